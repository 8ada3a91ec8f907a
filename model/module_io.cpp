#include "model/module_io.h"

#include <functional>

#include <torch/torch.h>

#include "core/error.h"

namespace asdm {

TensorMap module_tensors(const torch::nn::Module& module, const std::string& prefix) {
  TensorMap t;
  for (const auto& p : module.named_parameters()) t[prefix + p.key()] = p.value().detach().cpu();
  return t;
}

namespace {

// The strict load, `fill` taking each parameter with its tensor.
void load_strict(torch::nn::Module& module, const TensorMap& t, const std::string& what,
                 const std::string& prefix, const std::string& ignore,
                 const std::function<void(at::Tensor&, const at::Tensor&)>& fill) {
  std::vector<std::string> problems;
  torch::NoGradGuard guard;
  auto params = module.named_parameters();
  std::vector<std::pair<at::Tensor*, const at::Tensor*>> fills;
  for (auto& p : params) {
    const auto it = t.find(prefix + p.key());
    if (it == t.end()) {
      problems.push_back("missing " + prefix + p.key());
    } else if (it->second.sizes() != p.value().sizes()) {
      problems.push_back(fmt::format("{} has shape {}, expected {}", it->first,
                                     shape_string(it->second.sizes().vec()),
                                     shape_string(p.value().sizes().vec())));
    } else {
      fills.emplace_back(&p.value(), &it->second);
    }
  }
  for (const auto& [k, v] : t) {
    if (k.rfind(prefix, 0) != 0) continue;
    if (!params.contains(k.substr(prefix.size())) &&
        (ignore.empty() || k.find(ignore) == std::string::npos))
      problems.push_back("unexpected " + k);
  }
  if (!problems.empty()) fail("{} do not match: {}", what, join_limited(problems, 8));
  for (auto& [param, tensor] : fills) fill(*param, *tensor);
}

}  // namespace

void load_module_tensors(torch::nn::Module& module, const TensorMap& t, const std::string& what,
                         const std::string& prefix, const std::string& ignore) {
  load_strict(module, t, what, prefix, ignore,
              [](at::Tensor& param, const at::Tensor& v) { param.copy_(v); });
}

bool adopt_tensor(at::Tensor& param, const at::Tensor& t) {
  if (t.sizes() != param.sizes() || t.scalar_type() != param.scalar_type() ||
      t.device() != param.device() || !t.is_contiguous())
    return false;
  torch::NoGradGuard ng;
  param.set_data(t);
  param.unsafeGetTensorImpl()->bump_version();
  return true;
}

void adopt_module_tensors(torch::nn::Module& module, TensorMap t, const std::string& what,
                          const std::string& prefix, const std::string& ignore) {
  load_strict(module, t, what, prefix, ignore, [](at::Tensor& param, const at::Tensor& v) {
    if (!adopt_tensor(param, v)) param.copy_(v);
  });
}

std::vector<std::string> share_parameters(torch::nn::Module& module,
                                          const torch::nn::Module& source,
                                          const std::string& except) {
  const auto from = source.named_parameters(true);
  std::vector<std::string> own;
  for (auto& p : module.named_parameters(true)) {
    if (!except.empty() && p.key().rfind(except, 0) == 0) continue;
    const at::Tensor* t = from.find(p.key());
    if (!t || t->sizes() != p.value().sizes() || t->dtype() != p.value().dtype() ||
        t->device() != p.value().device())
      own.push_back(p.key());
    else
      p.value().set_data(*t);
  }
  return own;
}

}  // namespace asdm
