#pragma once
// The UNet: diffusers' UNet2DConditionModel module for module and key for key, built from an
// ArchSpec. Removed units keep only their shortcut; every unit boundary goes through the
// UnitObserver hook. Light header: libtorch types are forward-declared.
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "model/arch_spec.h"
#include "model/observer.h"

namespace torch::nn {
class Module;
}

namespace asdm {

// Extra conditioning for text_time (SDXL) and time_cond_proj models; null when absent.
struct AddedConditions {
  const at::Tensor* text_embeds = nullptr;    // [B, projection_dim - 6 * addition_time_embed_dim]
  const at::Tensor* time_ids = nullptr;       // [B, 6]
  const at::Tensor* timestep_cond = nullptr;  // [B, time_cond_proj_dim]
  const at::Tensor* class_labels = nullptr;   // [B, projection_class_embeddings_input_dim]
};

class UNet {
 public:
  // Builds the student of `spec` on the CPU in float32, with libtorch's default initialisation.
  explicit UNet(const ArchSpec& spec);
  ~UNet();
  UNet(const UNet&) = delete;
  UNet& operator=(const UNet&) = delete;

  const ArchSpec& spec() const;
  const UNetLayout& layout() const;
  const std::set<std::string>& removed_units() const;

  // sample [B, in_channels, H, W]; timestep scalar, [1] or [B] (int or float);
  // encoder_hidden_states [B, T, cross_attention_dim]. Returns [B, out_channels, H, W].
  // Inputs are cast to the model's dtype and must be on its device. The caller picks the grad mode.
  at::Tensor forward(const at::Tensor& sample, const at::Tensor& timestep,
                     const at::Tensor& encoder_hidden_states, const AddedConditions& added = {},
                     UnitObserver* observer = nullptr) const;

  // The module tree; named_parameters() gives diffusers' state-dict keys.
  torch::nn::Module& module();
  const torch::nn::Module& module() const;
  int64_t num_parameters() const;

  // "cpu" / "cuda" / "cuda:1"; "float32" / "float16" / "bfloat16".
  void to(const std::string& device, const std::string& dtype);
  std::string device() const;
  std::string dtype() const;

  // Channels-last (NHWC) memory for the convolutions' weights and every 4-D activation (issue
  // 21's fast path; cuDNN and oneDNN run NHWC convolutions natively). The forward's output is
  // returned in the usual layout; the numbers are the same within float rounding. Call after `to`
  // or loading weights (both keep the layout they find), before capturing a CUDA graph.
  void set_channels_last(bool on);
  bool channels_last() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace asdm
