// share_parameters (model/module_io.h): a model built from a frozen one shares the frozen one's
// tensors outside the modules it changes, keeps its own inside them, and training those leaves the
// frozen model as it was.
#include "model/module_io.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/unet.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

std::unique_ptr<UNet> tiny(int seed) {
  torch::manual_seed(seed);
  return std::make_unique<UNet>(arch_from_config(load_unet_config(test::config_path("tiny"))));
}

TEST(ModuleIo, SharedParametersAreTheSourcesOutsideTheExceptedModule) {
  torch::set_num_threads(1);
  const auto teacher = tiny(1);
  const auto hybrid = tiny(2);
  const std::string phase = "down_blocks.0.";
  const auto tp = teacher->module().named_parameters(true);
  TensorMap before;
  for (const auto& p : tp) before[p.key()] = p.value().clone();
  int outside = 0;
  for (const auto& p : hybrid->module().named_parameters(true)) outside += p.key().rfind(phase, 0);
  const int shared = share_parameters(hybrid->module(), teacher->module(), phase);
  EXPECT_EQ(shared, outside);
  ASSERT_GT(shared, 0);
  for (const auto& p : hybrid->module().named_parameters(true)) {
    const bool same = p.value().data_ptr() == tp[p.key()].data_ptr();
    EXPECT_EQ(same, p.key().rfind(phase, 0) != 0) << p.key();
  }

  // One training step of the phase's weights, as incubation takes it: the teacher is unchanged.
  std::vector<torch::Tensor> train;
  for (auto& p : hybrid->module().named_parameters(true)) {
    const bool in_phase = p.key().rfind(phase, 0) == 0;
    p.value().requires_grad_(in_phase);
    if (in_phase) train.push_back(p.value());
  }
  torch::optim::AdamW opt(train, torch::optim::AdamWOptions(1e-2));
  const auto cfg = hybrid->layout().config;
  const torch::Tensor x = torch::randn({1, cfg.in_channels, 16, 16});
  const torch::Tensor ehs = torch::randn({1, 4, cfg.cross_attention_dim[0]});
  hybrid->module().train();
  (*hybrid)(x, torch::tensor({500}), ehs).square().mean().backward();
  opt.step();
  for (const auto& p : tp)
    EXPECT_TRUE(torch::equal(p.value(), before.at(p.key()))) << p.key() << " changed";

  // Another dtype shares nothing.
  const auto wide = tiny(3);
  wide->module().to(torch::kFloat64);
  EXPECT_EQ(share_parameters(tiny(4)->module(), wide->module()), 0);
}

}  // namespace
}  // namespace asdm
