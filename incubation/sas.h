#pragma once
// Semantic-aware supervision (SAS, DESIGN.md §6): the distillation loss
//   λ_task·MSE(out_s, target) + λ_out·MSE(out_s, out_t) + λ_feat·Σ_k ‖f_s^k − f_t^k‖²/‖f_t^k‖² +
//   λ_sem·L_sem
// target: the noise (or v, for v-prediction models); f^k: block outputs at the feature hooks (the
// ratio taken per example and averaged over the batch, so that every term is a mean over examples);
// L_sem: the mean over the semantic hooks' cross-attentions of Σ_text (p_s − p_t)² per image token
// (p: softmax attention of image tokens to text tokens), averaged over batch, heads and tokens.
// Every term is returned apart (for the log), with the weighted total. Include from .cpp files
// only.
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/observer.h"

namespace asdm {

struct SasWeights {
  double task = 1, output = 1, feature = 1, semantic = 1;
};

// Captures block outputs (by block id) and cross-attention probabilities (by attention unit id:
// one per transformer block, in order) during one forward. Keeps autograd graphs.
class SasCapture : public UnitObserver {
 public:
  SasCapture(std::vector<std::string> feature_hooks, std::vector<std::string> semantic_hooks,
             bool maps);
  bool wants_tensors() const override { return !features_.empty(); }
  bool wants_attention_maps() const override { return maps_; }
  void on_tensor(const std::string& path, const at::Tensor& value) override;
  void clear();
  std::map<std::string, at::Tensor> features;
  std::map<std::string, std::vector<at::Tensor>> maps;

 private:
  std::vector<std::string> features_, semantic_;
  bool maps_ = false;
};

struct SasLosses {
  at::Tensor total;
  std::map<std::string, double> terms;  // task, output, feature, semantic (unweighted), total
};

// `hook_map`: student hook id -> teacher hook id (identity unless blocks moved).
SasLosses sas_losses(const at::Tensor& student_out, const at::Tensor& teacher_out,
                     const at::Tensor& target, const SasCapture& student, const SasCapture& teacher,
                     const SasWeights& weights,
                     const std::map<std::string, std::string>& feature_map,
                     const std::map<std::string, std::string>& semantic_map);

}  // namespace asdm
