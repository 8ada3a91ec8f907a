// Ablation on a CUDA device: the same scores as on the CPU (fp32, TF32 off), within float
// tolerance, with the subject's tensors on the device.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "analysis/ablation.h"
#include "analysis/subject.h"
#include "core/error.h"
#include "model/runtime.h"
#include "tests/analysis/fixtures.h"
#include "tests/gpu/cuda_test.h"

namespace asdm {
namespace {

using AblationCuda = test::CudaTest;

TEST_F(AblationCuda, ScoresMatchTheCpu) {
  const auto f = test::make_proxy_fixture("ablation_cuda");
  AblationOptions o = test::small_options();
  o.tier = "both";
  o.units = {"down_blocks.0.resnets.0", "mid_block.attentions.0", "up_blocks.3.attentions.2"};
  RunContext ctx;
  const auto cpu = run_ablation(load_proxy_subject(f.pipeline, f.prompts, {}, "cpu"), o, ctx,
                                f.dir / "cpu.json", false)
                       .to_json();
  const auto gpu = run_ablation(load_proxy_subject(f.pipeline, f.prompts, {}, "cuda"), o, ctx,
                                f.dir / "gpu.json", false)
                       .to_json();
  ASSERT_EQ(cpu.at("results").size(), gpu.at("results").size());
  for (size_t i = 0; i < cpu.at("results").size(); ++i) {
    const auto& a = cpu.at("results")[i];
    const auto& b = gpu.at("results")[i];
    const double t1a = a.at("/tier1/nmse/mean"_json_pointer),
                 t1b = b.at("/tier1/nmse/mean"_json_pointer);
    EXPECT_NEAR(t1b, t1a, 1e-3 * t1a + 1e-9) << a.at("id");
    const double t2a = a.at("/tier2/ssim_loss/mean"_json_pointer),
                 t2b = b.at("/tier2/ssim_loss/mean"_json_pointer);
    EXPECT_NEAR(t2b, t2a, 1e-2 * t2a + 1e-6) << a.at("id");
  }
}

}  // namespace
}  // namespace asdm
