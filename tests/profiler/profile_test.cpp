#include "profiler/profile.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/unet.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(Profile, ListsEveryUnitWithConsistentTimes) {
  auto cfg = read_json_file(test::config_path("tiny"));
  cfg["transformer_layers_per_block"] = 2;
  UNet u(arch_from_config(parse_unet_config(cfg)));
  ProfileOptions o;
  o.resolution = 128;
  o.runs = 3;
  o.warmup = 1;
  int calls = 0;
  o.progress = [&](int, int) { ++calls; };
  const ProfileReport r = profile_unet(u, o);
  EXPECT_EQ(calls, 1 + 2 * 3);
  ASSERT_EQ(r.units.size(), u.layout().units.size());
  for (const auto& p : r.units) {
    EXPECT_EQ(p.inclusive_ms.n, 3) << p.id;
    EXPECT_GE(p.inclusive_ms.median, p.exclusive_ms.median) << p.id;
    EXPECT_GE(p.exclusive_ms.median, 0) << p.id;
  }
  EXPECT_GT(r.coverage, 0.5);
  EXPECT_LE(r.coverage, 1.0);
  EXPECT_EQ(r.input.latent_height, 16);
  const auto j = to_json(r);
  EXPECT_EQ(j["units"].size(), r.units.size());
  EXPECT_TRUE(j.contains("overhead"));
}

// Every distinct attention shape of the forward with the kernel SDPA picks for it on the device;
// removed units are not run, so their shapes go.
TEST(Profile, NamesTheAttentionKernelOfEveryShape) {
  ArchSpec spec = arch_from_config(load_unet_config(test::config_path("tiny")));
  InputShape in = InputShape::square(16, 8, 2, 7);
  const std::string all = attention_kernels(UNet(spec), in);
  EXPECT_EQ(all.rfind("self 256x256 2x8: ", 0), 0u) << all;
  EXPECT_NE(all.find("cross 256x7 2x8: "), std::string::npos) << all;
  EXPECT_NE(all.find("self 4x4 2x16: "), std::string::npos) << all;
  int items = 0;
  for (size_t at = 0; at != std::string::npos; at = all.find("; ", at + 1)) ++items;
  EXPECT_EQ(items, 8) << all;  // self and cross at four levels
  for (const char* name : {"flash_attention", "efficient_attention", "cudnn_attention", "math"}) {
    size_t n = 0;
    for (size_t at = all.find(name); at != std::string::npos; at = all.find(name, at + 1)) ++n;
    items -= int(n);
  }
  EXPECT_EQ(items, 0) << "every shape names a known kernel: " << all;
  spec.edits.push_back(Edit::remove("mid_block.attentions.0"));
  const std::string pruned = attention_kernels(UNet(spec), in);
  EXPECT_EQ(pruned.find("4x4"), std::string::npos) << pruned;
  EXPECT_EQ(pruned.rfind("self 256x256 2x8: ", 0), 0u) << pruned;
}

TEST(Profile, TraceIsChromeTraceEventJson) {
  UNet u(arch_from_config(load_unet_config(test::config_path("tiny"))));
  ProfileOptions o;
  o.resolution = 64;
  o.runs = 1;
  o.warmup = 0;
  const auto trace = nlohmann::json::parse(chrome_trace(profile_unet(u, o)).dump());
  ASSERT_TRUE(trace["traceEvents"].is_array());
  int slices = 0;
  for (const auto& e : trace["traceEvents"]) {
    ASSERT_TRUE(e.contains("ph") && e.contains("name") && e.contains("pid"));
    if (e["ph"] == "X") {
      ++slices;
      EXPECT_TRUE(e["ts"].is_number() && e["dur"].is_number() && e.contains("tid"));
      EXPECT_GE(e["dur"].get<double>(), 0);
    }
  }
  EXPECT_EQ(slices, static_cast<int>(u.layout().units.size()));
}

TEST(Profile, CuptiOnTheCpuFallsBackToTheTimerAndSaysSo) {
  UNet u(arch_from_config(load_unet_config(test::config_path("tiny"))));
  ProfileOptions o;
  o.resolution = 64;
  o.runs = 1;
  o.warmup = 0;
  o.backend = "cupti";
  const ProfileReport r = profile_unet(u, o);
  EXPECT_EQ(r.backend, "timer");
  EXPECT_EQ(r.requested_backend, "cupti");
  EXPECT_NE(r.fallback_note, "");
  const auto j = to_json(r);
  EXPECT_EQ(j["backend"], "timer");
  EXPECT_EQ(j["requested_backend"], "cupti");
  EXPECT_EQ(j["fallback_note"], r.fallback_note);
}

TEST(Profile, SamplerLoopModeTimesStepsWithGuidanceDoublingTheBatch) {
  UNet u(arch_from_config(load_unet_config(test::config_path("tiny"))));
  ProfileOptions o;
  o.resolution = 64;
  o.runs = 2;
  o.warmup = 0;
  o.sampler_steps = 3;
  o.guidance = 5;
  const ProfileReport r = profile_unet(u, o);
  EXPECT_EQ(r.sampler_steps, 3);
  EXPECT_EQ(r.unet_batch, 2);
  for (const auto& p : r.units) EXPECT_EQ(p.inclusive_ms.n, 2 * 3) << p.id;  // per UNet call
  int forwards = 0;
  for (const auto& s : r.trace.units) forwards += s.id == "conv_in";
  EXPECT_EQ(forwards, 3);
  EXPECT_GT(r.coverage, 0.5);
  EXPECT_LE(r.coverage, 1.0);
  const auto j = to_json(r);
  EXPECT_EQ(j["mode"]["kind"], "sampler-loop");
  EXPECT_EQ(j["input"]["unet_batch"], 2);
  o.guidance = 1;
  EXPECT_EQ(profile_unet(u, o).unet_batch, 1);
  o.sampler = "plms";
  EXPECT_EQ(test::error_of([&] { profile_unet(u, o); }),
            "unknown sampler 'plms' (known: ddim, euler, dpm++2m, pndm)");
}

TEST(Profile, RejectsResolutionsTheUNetCannotTake) {
  UNet u(arch_from_config(load_unet_config(test::config_path("tiny"))));
  ProfileOptions o;
  o.resolution = 100;
  EXPECT_EQ(
      test::error_of([&] { profile_unet(u, o); }),
      "resolution 100 is not divisible by the UNet's downsampling factor 64 (VAE 8 x 2^3 stages)");
}

TEST(Profile, InterleavedForwardsTimeEveryModel) {
  ArchSpec spec = arch_from_config(load_unet_config(test::config_path("tiny")));
  UNet teacher(spec);
  spec.edits.push_back(Edit::remove("down_blocks.0.attentions.0"));
  UNet student(spec);
  ProfileOptions o;
  o.resolution = 64;
  o.runs = 3;
  o.warmup = 1;
  int calls = 0;
  const auto t = time_forwards_interleaved({&teacher, &student}, o, [&](int done, int total) {
    ++calls;
    EXPECT_EQ(total, 8);
  });
  EXPECT_EQ(calls, 8);
  ASSERT_EQ(t.size(), 2u);
  for (const auto& s : t) {
    EXPECT_EQ(s.n, 3);
    EXPECT_GT(s.median, 0);
  }
}

}  // namespace
}  // namespace asdm
