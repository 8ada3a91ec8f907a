// The UNet on a CUDA device: fp32 parity with the diffusers fixture, and fp16/bf16 close to fp32,
// NCHW and channels-last (cuDNN's NHWC convolutions).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/checkpoint.h"
#include "model/runtime.h"
#include "model/tensor_io.h"
#include "tests/gpu/cuda_test.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

// Parity is checked in true fp32 (test::CudaTest turns TF32 off).
using CudaForward = test::CudaTest;

TEST_F(CudaForward, Fp32ReproducesTheDiffusersFixture) {
  for (const bool nhwc : {false, true}) {
    LoadOptions o;
    o.device = "cuda";
    o.channels_last = nhwc;
    auto unet = load_unet(test::fixture_dir(), o);
    const TensorMap io = read_tensors(test::fixture_dir() / "io.safetensors");
    torch::InferenceMode guard;
    const auto out = unet->forward(io.at("sample").cuda(), io.at("timestep").cuda(),
                                   io.at("encoder_hidden_states").cuda())
                         .cpu();
    const auto& ref = io.at("out_sample");
    EXPECT_LE((out - ref).abs().max().item<double>(), 1e-4 + 1e-4 * ref.abs().max().item<double>())
        << (nhwc ? "channels-last" : "NCHW");
  }
}

TEST_F(CudaForward, HalfPrecisionStaysCloseToFp32) {
  const TensorMap io = read_tensors(test::fixture_dir() / "io.safetensors");
  const auto& ref = io.at("out_sample");
  for (const char* dtype : {"float16", "bfloat16"})
    for (const bool nhwc : {false, true}) {
      LoadOptions o;
      o.device = "cuda";
      o.dtype = dtype;
      o.channels_last = nhwc;
      auto unet = load_unet(test::fixture_dir(), o);
      torch::InferenceMode guard;
      const auto out = unet->forward(io.at("sample").cuda(), io.at("timestep").cuda(),
                                     io.at("encoder_hidden_states").cuda())
                           .to(torch::kCPU, torch::kFloat32);
      EXPECT_TRUE(torch::isfinite(out).all().item<bool>()) << dtype;
      const double rel = ((out - ref).abs().max() / ref.abs().max()).item<double>();
      EXPECT_LT(rel, 0.05) << dtype << (nhwc ? " channels-last" : "");
    }
}

}  // namespace
}  // namespace asdm
