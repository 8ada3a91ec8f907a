// Parity with diffusers: the fixture in shared/fixtures/diffusers/unet_tiny was made by the real
// diffusers library; every captured activation must match within 1e-4 + 1e-4 * max|ref| (fp32, CPU).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/capture.h"
#include "model/checkpoint.h"
#include "model/tensor_io.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(Parity, ReproducesTheDiffusersFixture) {
  auto unet = load_unet(test::fixture_dir());
  const TensorMap io = read_tensors(test::fixture_dir() / "io.safetensors");
  ActivationCapture cap;
  TensorMap& acts = cap.tensors();
  torch::InferenceMode guard;
  const auto out = unet->forward(io.at("sample"), io.at("timestep"), io.at("encoder_hidden_states"), {}, &cap);
  acts["out_sample"] = out;
  int compared = 0;
  for (const auto& [name, ref] : io) {
    if (name == "sample" || name == "timestep" || name == "encoder_hidden_states") continue;
    ASSERT_TRUE(acts.count(name)) << "no captured tensor " << name;
    const auto& got = acts.at(name);
    ASSERT_EQ(got.sizes(), ref.sizes()) << name;
    const double tol = 1e-4 + 1e-4 * ref.abs().max().item<double>();
    const double diff = (got - ref).abs().max().item<double>();
    EXPECT_LE(diff, tol) << name;
    ++compared;
  }
  EXPECT_EQ(compared, 80);
}

}  // namespace
}  // namespace asdm
