#include "model/capture.h"

#include <torch/torch.h>

namespace asdm {

void ActivationCapture::on_tensor(const std::string& path, const at::Tensor& value) {
  at::Tensor t = value.detach();
  tensors_["act." + path] =
      to_cpu_float32_ ? t.to(torch::kCPU, torch::kFloat32).clone() : t.clone();
}

}  // namespace asdm
