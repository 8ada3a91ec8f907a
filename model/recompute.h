#pragma once
// Activation checkpointing for the UNet's units (issue 24). While a RecomputeGuard(true) lives on
// this thread, a UNet forward with grad enabled keeps, for each resnet and attention unit, only
// the unit's inputs: its activations are computed again in the backward pass. Gradients are those
// of the plain forward (the same operators run again; the UNet has no randomness); memory falls
// by the units' internal activations, time rises by one extra forward. Attention units whose
// cross-attention maps an observer asked for (SAS's semantic loss) run as usual, and a recomputed
// unit reports no internal tensors to observers (its output still goes through the hook).
// Light header, like a grad-mode guard.
#include <functional>
#include <vector>

namespace at {
class Tensor;
}

namespace asdm {

class RecomputeGuard {
 public:
  explicit RecomputeGuard(bool on);
  ~RecomputeGuard();
  RecomputeGuard(const RecomputeGuard&) = delete;
  RecomputeGuard& operator=(const RecomputeGuard&) = delete;

 private:
  bool previous_;
};

bool recompute_enabled();

// fn(inputs), differentiable with respect to `inputs` and `params` (the tensors fn reads besides
// its inputs: the unit's weights), storing only `inputs` for the backward pass, which runs fn
// again with grad enabled (and CUDA autocast as it was). For the UNet's units; usable for any pure
// function of tensors.
at::Tensor recompute_in_backward(std::function<at::Tensor(const std::vector<at::Tensor>&)> fn,
                                 const std::vector<at::Tensor>& inputs,
                                 const std::vector<at::Tensor>& params);

}  // namespace asdm
