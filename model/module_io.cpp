#include "model/module_io.h"

#include <torch/torch.h>

#include "core/error.h"

namespace asdm {

TensorMap module_tensors(const torch::nn::Module& module, const std::string& prefix) {
  TensorMap t;
  for (const auto& p : module.named_parameters()) t[prefix + p.key()] = p.value().detach().cpu();
  return t;
}

void load_module_tensors(torch::nn::Module& module, const TensorMap& t, const std::string& what,
                         const std::string& prefix, const std::string& ignore) {
  std::vector<std::string> problems;
  torch::NoGradGuard guard;
  auto params = module.named_parameters();
  for (auto& p : params) {
    const auto it = t.find(prefix + p.key());
    if (it == t.end()) {
      problems.push_back("missing " + prefix + p.key());
    } else if (it->second.sizes() != p.value().sizes()) {
      problems.push_back(fmt::format("{} has shape {}, expected {}", it->first,
                                     shape_string(it->second.sizes().vec()),
                                     shape_string(p.value().sizes().vec())));
    } else {
      p.value().copy_(it->second);
    }
  }
  for (const auto& [k, v] : t) {
    if (k.rfind(prefix, 0) != 0) continue;
    if (!params.contains(k.substr(prefix.size())) &&
        (ignore.empty() || k.find(ignore) == std::string::npos))
      problems.push_back("unexpected " + k);
  }
  if (!problems.empty()) fail("{} do not match: {}", what, join_limited(problems, 8));
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
