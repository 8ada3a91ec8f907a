#include "incubation/sas.h"

#include <algorithm>

#include <torch/torch.h>

#include "core/error.h"

namespace asdm {

SasCapture::SasCapture(std::vector<std::string> feature_hooks,
                       std::vector<std::string> semantic_hooks, bool maps)
    : features_(std::move(feature_hooks)), semantic_(std::move(semantic_hooks)), maps_(maps) {}

void SasCapture::clear() {
  features.clear();
  maps.clear();
}

void SasCapture::on_tensor(const std::string& path, const at::Tensor& value) {
  if (std::find(features_.begin(), features_.end(), path) != features_.end()) {
    features[path] = value;
    return;
  }
  constexpr std::string_view kProbs = ".attn2.probs";
  if (path.size() <= kProbs.size() ||
      path.compare(path.size() - kProbs.size(), kProbs.size(), kProbs) != 0)
    return;
  // "<attention unit>.transformer_blocks.<k>.attn2.probs"
  const size_t tb = path.rfind(".transformer_blocks.");
  if (tb == std::string::npos) return;
  const std::string unit = path.substr(0, tb);
  if (std::find(semantic_.begin(), semantic_.end(), unit) != semantic_.end())
    maps[unit].push_back(value);
}

SasLosses sas_losses(const at::Tensor& s_out, const at::Tensor& t_out, const at::Tensor& target,
                     const SasCapture& s, const SasCapture& t, const SasWeights& w,
                     const std::map<std::string, std::string>& feature_map,
                     const std::map<std::string, std::string>& semantic_map) {
  SasLosses r;
  const at::Tensor task = torch::mse_loss(s_out, target);
  const at::Tensor out = torch::mse_loss(s_out, t_out.detach());
  at::Tensor feat = torch::zeros({}, s_out.options());
  for (const auto& [sk, tk] : feature_map) {
    const auto a = s.features.find(sk), b = t.features.find(tk);
    if (a == s.features.end() || b == t.features.end())
      fail("feature hook {} was not captured", sk);
    const at::Tensor ft = b->second.detach();
    // Per example, then the batch mean: a loss that is a mean over examples gives the same
    // gradient whether a batch is split over ranks and micro-batches or not.
    const at::Tensor err = (a->second - ft).pow(2).flatten(1).sum(1);
    feat = feat + (err / ft.pow(2).flatten(1).sum(1).clamp_min(1e-12)).mean();
  }
  at::Tensor sem = torch::zeros({}, s_out.options());
  int n = 0;
  for (const auto& [sk, tk] : semantic_map) {
    const auto a = s.maps.find(sk), b = t.maps.find(tk);
    if (a == s.maps.end() || b == t.maps.end())
      fail("cross-attention maps of {} were not captured", sk);
    const size_t k = std::min(a->second.size(), b->second.size());
    for (size_t i = 0; i < k; ++i) {
      sem = sem + (a->second[i] - b->second[i].detach()).pow(2).sum(-1).mean();
      ++n;
    }
  }
  if (n > 0) sem = sem / n;
  r.total = w.task * task + w.output * out + w.feature * feat + w.semantic * sem;
  r.terms = {{"task", task.item<double>()},
             {"output", out.item<double>()},
             {"feature", feat.item<double>()},
             {"semantic", sem.item<double>()},
             {"total", r.total.item<double>()}};
  return r;
}

}  // namespace asdm
