#pragma once
// An observer that keeps every named intermediate tensor of a forward as "act.<module path>" (the
// naming of the diffusers fixtures): `asdm forward --capture`, parity tests, feature capture.
#include <string>

#include "model/observer.h"
#include "model/tensor_io.h"

namespace asdm {

class ActivationCapture : public UnitObserver {
 public:
  // `to_cpu_float32`: store CPU float32 copies (for writing); otherwise clones on the tensor's
  // device.
  explicit ActivationCapture(bool to_cpu_float32 = false) : to_cpu_float32_(to_cpu_float32) {}
  bool wants_tensors() const override { return true; }
  void on_tensor(const std::string& path, const at::Tensor& value) override;
  TensorMap& tensors() { return tensors_; }

 private:
  bool to_cpu_float32_;
  TensorMap tensors_;
};

}  // namespace asdm
