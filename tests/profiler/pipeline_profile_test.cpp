#include "profiler/pipeline_profile.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tests/test_env.h"
#include "tests/tiny_pipeline.h"

namespace asdm {
namespace {

TEST(PipelineProfile, SplitsEveryRunIntoItsStages) {
  const auto dir = test::scratch_dir("pipeline-profile");
  test::write_tiny_pipeline(dir, "PNDMScheduler");
  const auto pipe = SdPipeline::load(dir);
  PipelineProfileOptions o;
  o.generate.prompts = {"the red"};
  o.generate.steps = 3;
  o.runs = 2;
  o.warmup = 1;
  int reported = 0;
  o.progress = [&](int done, int total) {
    EXPECT_EQ(total, 3);
    reported = done;
  };
  const PipelineProfile p = profile_pipeline(*pipe, o);
  EXPECT_EQ(reported, 3);
  EXPECT_EQ(p.sampler, "pndm");
  EXPECT_EQ(p.unet_calls, 4);  // PNDM: steps + 1
  EXPECT_EQ(p.unet_call_ms.n, 2 * 4);
  EXPECT_EQ(p.total_ms.n, 2);
  for (const Summary* s : {&p.text_encoder_ms, &p.unet_ms, &p.vae_ms}) EXPECT_GT(s->median, 0);
  EXPECT_GE(p.other_ms.p10, 0);
  EXPECT_LE(p.text_encoder_ms.median + p.unet_ms.median + p.vae_ms.median, p.total_ms.p90 * 1.001);
  const auto j = to_json(p);
  EXPECT_EQ(j["height"], 32);
  EXPECT_EQ(j["batch"], 1);
  for (const char* stage : {"text_encoder", "unet", "vae", "other"}) {
    ASSERT_TRUE(j["stages"].contains(stage)) << stage;
    EXPECT_GE(j["stages"][stage]["share"].get<double>(), 0.0);
  }
  o.runs = 0;
  EXPECT_THROW(profile_pipeline(*pipe, o), Error);
}

}  // namespace
}  // namespace asdm
