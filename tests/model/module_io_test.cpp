// share_parameters (model/module_io.h): a model built from a frozen one takes the frozen one's
// tensors outside the module it changes and keeps its own inside it; with the module's weights
// copied too it computes what the frozen one does, and training the module leaves the frozen model
// as it was. A source in another dtype lends nothing. adopt_module_tensors: a strict load whose
// parameters become the given tensors.
#include "model/module_io.h"

#include <fmt/format.h>
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

// adopt_module_tensors: each parameter becomes its tensor itself where dtype and device agree
// (another dtype is copied and converted); strict like load_module_tensors, and on a mismatch no
// parameter changes. map_tensors gives the files' tensors, mapped where it can.
TEST(ModuleIo, AdoptedTensorsAreTheParameters) {
  const auto a = tiny(5), b = tiny(6);
  TensorMap t = module_tensors(a->module());
  TensorMap given;
  for (const auto& [k, v] : t) given[k] = v.clone();
  given["conv_in.bias"] = given["conv_in.bias"].to(torch::kFloat64);
  std::map<std::string, const void*> where;
  for (const auto& [k, v] : given) where[k] = v.data_ptr();
  const int64_t version = b->module().named_parameters()["conv_in.weight"]._version();
  adopt_module_tensors(b->module(), given, "weights");
  for (const auto& p : b->module().named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), t.at(p.key()).to(p.value().scalar_type()))) << p.key();
    EXPECT_EQ(p.value().data_ptr() == where.at(p.key()), p.key() != "conv_in.bias") << p.key();
    EXPECT_TRUE(p.value().requires_grad()) << p.key();
  }
  EXPECT_GT(b->module().named_parameters()["conv_in.weight"]._version(), version);

  const auto c = tiny(7);
  TensorMap wrong = module_tensors(a->module());
  wrong.erase("conv_in.weight");
  wrong["extra.weight"] = torch::ones({1});
  const at::Tensor before = c->module().named_parameters()["conv_out.weight"].clone();
  EXPECT_EQ(test::error_of([&] { adopt_module_tensors(c->module(), wrong, "weights"); }),
            "weights do not match: missing conv_in.weight, unexpected extra.weight");
  EXPECT_TRUE(torch::equal(c->module().named_parameters()["conv_out.weight"], before));

  const auto dir = test::scratch_dir("module_io_map");
  write_tensors(dir / "a.safetensors", {{"x", torch::arange(4.0f)}});
  write_tensors(dir / "b.safetensors", {{"y", torch::ones({2}, torch::kFloat16)}});
  const TensorMap m = map_tensors({dir / "a.safetensors", dir / "b.safetensors"});
  EXPECT_TRUE(torch::equal(m.at("x"), torch::arange(4.0f)));
  EXPECT_TRUE(torch::equal(m.at("y"), torch::ones({2}, torch::kFloat16)));
  EXPECT_EQ(test::error_of([&] {
              map_tensors({dir / "a.safetensors", dir / "a.safetensors"});
            }),
            fmt::format("tensor 'x' appears in two shards ({} and {})",
                        (dir / "a.safetensors").string(), (dir / "a.safetensors").string()));
}

}  // namespace
}  // namespace asdm
