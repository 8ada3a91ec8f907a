#pragma once
// One seeded test-world UNet input (batch 2, 12 x 8 x 8 latents, 8 text tokens of width 32, class
// labels of width 32) and a forward on it, for CLI tests that compare the models a command wrote.
#include <torch/torch.h>

#include "model/observer.h"
#include "model/unet.h"

namespace asdm::test {

inline at::Tensor proxy_unet_forward(const UNet& unet, UnitObserver* observer = nullptr) {
  torch::manual_seed(0);
  torch::InferenceMode guard;
  const at::Tensor x = torch::randn({2, 12, 8, 8}), t = torch::tensor({10, 700}),
                   h = torch::randn({2, 8, 32}), pooled = torch::randn({2, 32});
  AddedConditions added;
  added.class_labels = &pooled;
  return unet.forward(x, t, h, added, observer);
}

}  // namespace asdm::test
