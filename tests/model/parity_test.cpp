// Parity with diffusers: the fixture in shared/fixtures/diffusers/unet_tiny was made by the real
// diffusers library; every captured activation must match within 1e-4 + 1e-4 * max|ref| (fp32,
// CPU).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/capture.h"
#include "model/checkpoint.h"
#include "model/tensor_io.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

void expect_fixture_reproduced(bool channels_last) {
  auto unet = load_unet(test::fixture_dir());
  unet->set_channels_last(channels_last);
  const TensorMap io = read_tensors(test::fixture_dir() / "io.safetensors");
  ActivationCapture cap;
  TensorMap& acts = cap.tensors();
  torch::InferenceMode guard;
  const auto out =
      unet->forward(io.at("sample"), io.at("timestep"), io.at("encoder_hidden_states"), {}, &cap);
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

TEST(Parity, ReproducesTheDiffusersFixture) { expect_fixture_reproduced(false); }

// Issue 21's fast path: NHWC weights and activations, every captured tensor within the tolerance.
TEST(Parity, ReproducesTheDiffusersFixtureChannelsLast) { expect_fixture_reproduced(true); }

}  // namespace
}  // namespace asdm

namespace asdm {
namespace {

// float16 / bfloat16 weights and activations on the CPU: finite, and close to the fp32 reference
// (measured: 0.15% and 1.0% of max|ref|).
TEST(Parity, HalfPrecisionOnTheCpuStaysClose) {
  const TensorMap io = read_tensors(test::fixture_dir() / "io.safetensors");
  const auto& ref = io.at("out_sample");
  for (const auto& [dtype, bound] :
       {std::pair<const char*, double>{"float16", 0.01}, {"bfloat16", 0.05}}) {
    LoadOptions o;
    o.dtype = dtype;
    auto unet = load_unet(test::fixture_dir(), o);
    EXPECT_EQ(unet->dtype(), dtype);
    torch::InferenceMode guard;
    const auto out =
        unet->forward(io.at("sample"), io.at("timestep"), io.at("encoder_hidden_states"))
            .to(torch::kFloat32);
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>()) << dtype;
    EXPECT_LT(((out - ref).abs().max() / ref.abs().max()).item<double>(), bound) << dtype;
  }
}

}  // namespace
}  // namespace asdm
