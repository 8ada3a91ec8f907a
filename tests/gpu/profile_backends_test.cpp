// The CUDA latency backends on a real device (skipped without one): every unit measured, CUPTI
// attributes (nearly) all device time to units and drops nothing, and the trace gets a GPU track.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "model/checkpoint.h"
#include "model/runtime.h"
#include "model/unet.h"
#include "profiler/profile.h"
#include "tests/gpu/cuda_test.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

class CudaProfile : public test::CudaTest {
 protected:
  void SetUp() override {
    test::CudaTest::SetUp();
    if (IsSkipped()) return;
    auto cfg = read_json_file(test::config_path("tiny"));
    cfg["transformer_layers_per_block"] = 2;
    unet_ = std::make_unique<UNet>(arch_from_config(parse_unet_config(cfg)));
    unet_->to("cuda", "fp32");
  }
  ProfileReport run(const std::string& backend) {
    ProfileOptions o;
    o.resolution = 256;
    o.batch = 2;
    o.runs = 5;
    o.warmup = 2;
    o.backend = backend;
    return profile_unet(*unet_, o);
  }
  std::unique_ptr<UNet> unet_;
};

TEST_F(CudaProfile, CudaEventsMeasureEveryUnit) {
  const ProfileReport r = run("cuda-events");
  EXPECT_EQ(r.backend, "cuda-events");
  EXPECT_EQ(r.fallback_note, "");
  ASSERT_EQ(r.units.size(), unet_->layout().units.size());
  for (const auto& u : r.units) {
    EXPECT_EQ(u.inclusive_ms.n, 5) << u.id;
    EXPECT_GT(u.inclusive_ms.median, 0) << u.id;
    EXPECT_GE(u.inclusive_ms.median + 1e-6, u.exclusive_ms.median) << u.id;
  }
  EXPECT_GT(r.coverage, 0.5);
  EXPECT_LE(r.coverage, 1.0 + 1e-6);
}

TEST_F(CudaProfile, CuptiAttributesDeviceTimeToUnits) {
  const ProfileReport r = run("cupti");
  ASSERT_EQ(r.backend, "cupti") << r.fallback_note;
  ASSERT_EQ(r.units.size(), unet_->layout().units.size());
  for (const auto& u : r.units) {
    EXPECT_GT(u.kernel_count, 0) << u.id;
    EXPECT_GT(u.inclusive_ms.median, 0) << u.id;
    EXPECT_FALSE(u.top_kernels.empty()) << u.id;
  }
  EXPECT_GE(r.coverage, 0.99);
  EXPECT_EQ(r.dropped, 0);
  EXPECT_GT(r.activities, 0);
  const auto trace = nlohmann::json::parse(chrome_trace(r).dump());
  int gpu_slices = 0;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "X" && e["pid"] == 2) ++gpu_slices;
  EXPECT_EQ(gpu_slices, r.activities);
  // A second CUPTI profile in the same process works (the backend releases CUPTI).
  EXPECT_EQ(run("cupti").backend, "cupti");
}

// Both views: unit latency from CUDA events, kernels from a separate CUPTI pass, in one profile.
TEST_F(CudaProfile, EventsAndCuptiInOneProfile) {
  const ProfileReport r = run("cuda-events,cupti");
  EXPECT_EQ(r.backend, "cuda-events");
  ASSERT_EQ(r.kernel_backend, "cupti") << r.fallback_note;
  EXPECT_EQ(r.requested_backend, "cuda-events,cupti");
  for (const auto& u : r.units) {
    EXPECT_EQ(u.inclusive_ms.n, 5) << u.id;  // the events pass's runs
    EXPECT_GT(u.kernel_count, 0) << u.id;
    EXPECT_FALSE(u.top_kernels.empty()) << u.id;
  }
  EXPECT_GT(r.activities, 0);
  const auto j = to_json(r);
  EXPECT_EQ(j["kernel_backend"], "cupti");
  EXPECT_TRUE(j["units"][0].contains("kernel_count"));
  EXPECT_TRUE(j.contains("device_activity"));
}

TEST_F(CudaProfile, TimerSynchronisesAndStillCoversTheForward) {
  const ProfileReport r = run("timer");
  EXPECT_EQ(r.backend, "timer");
  EXPECT_GT(r.coverage, 0.5);
}

}  // namespace
}  // namespace asdm
