// share_parameters (model/module_io.h): a model built from a frozen one takes the frozen one's
// tensors outside the module it changes and keeps its own inside it; with the module's weights
// copied too it computes what the frozen one does, and training the module leaves the frozen model
// as it was. A source in another dtype lends nothing.
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
  const auto hybrid = tiny(2);  // other values everywhere
  const std::string phase = "down_blocks.0.";
  const auto tp = teacher->module().named_parameters(true);
  TensorMap before;
  for (const auto& p : tp) before[p.key()] = p.value().clone();
  EXPECT_TRUE(share_parameters(hybrid->module(), teacher->module(), phase).empty());
  int inside = 0;
  for (const auto& p : hybrid->module().named_parameters(true)) {
    const bool in_phase = p.key().rfind(phase, 0) == 0;
    inside += in_phase;
    EXPECT_EQ(p.value().data_ptr() == tp[p.key()].data_ptr(), !in_phase) << p.key();
  }
  ASSERT_GT(inside, 0);

  // With the module's weights copied in as well, the hybrid is the teacher.
  const auto cfg = hybrid->layout().config;
  const torch::Tensor x = torch::randn({1, cfg.in_channels, 16, 16});
  const torch::Tensor ehs = torch::randn({1, 4, cfg.cross_attention_dim[0]});
  const torch::Tensor t = torch::tensor({500});
  {
    torch::NoGradGuard ng;
    for (auto& p : hybrid->module().named_parameters(true))
      if (p.key().rfind(phase, 0) == 0) p.value().copy_(tp[p.key()]);
    EXPECT_TRUE(torch::equal(hybrid->forward(x, t, ehs), teacher->forward(x, t, ehs)));
  }

  // One training step of the module's weights, as incubation takes it: the teacher is unchanged.
  std::vector<torch::Tensor> train;
  for (auto& p : hybrid->module().named_parameters(true)) {
    const bool in_phase = p.key().rfind(phase, 0) == 0;
    p.value().requires_grad_(in_phase);
    if (in_phase) train.push_back(p.value());
  }
  torch::optim::AdamW opt(train, torch::optim::AdamWOptions(1e-2));
  hybrid->module().train();
  hybrid->forward(x, t, ehs).square().mean().backward();
  opt.step();
  for (const auto& p : tp)
    EXPECT_TRUE(torch::equal(p.value(), before.at(p.key()))) << p.key() << " changed";
  const std::string trained = phase + "resnets.0.conv1.weight";
  EXPECT_FALSE(torch::equal(hybrid->module().named_parameters(true)[trained], before.at(trained)));

  // A half-precision source lends nothing: every name keeps its own tensor.
  const auto half = tiny(3);
  half->to("cpu", "float16");
  const auto other = tiny(4);
  EXPECT_EQ(share_parameters(other->module(), half->module()).size(),
            other->module().named_parameters(true).size());
}

}  // namespace
}  // namespace asdm
