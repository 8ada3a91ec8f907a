// profile.json: a real profile and one with the CUPTI and sampler-loop fields survive a write and a
// read; the latency view later stages read comes from the same struct.
#include "profiler/profile_io.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/model_files.h"
#include "model/unet.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

// profile.json of a real profile of `u` (the tiny config at 64x64, no warm-up), header stamped.
ProfileArtifact profile_artifact(const UNet& u, int runs) {
  ProfileOptions o;
  o.resolution = 64;
  o.runs = runs;
  o.warmup = 0;
  ProfileArtifact a;
  a.report = profile_unet(u, o);
  a.header = ArtifactHeader::make(a.kArtifact, a.kSchemaVersion, test::run_context({}, "test CPU"));
  a.model = "tiny";
  return a;
}

UNet tiny_unet() { return UNet(arch_from_config(load_unet_config(test::config_path("tiny")))); }

TEST(ProfileArtifact, ARealProfileSurvivesARoundTrip) {
  const ProfileArtifact a = profile_artifact(tiny_unet(), 2);
  const auto path = test::scratch_dir("profile_io") / "profile.json";
  a.write(path);
  const ProfileArtifact back = ProfileArtifact::read(path);
  EXPECT_EQ(back.to_json(), a.to_json());
  const ProfileLatency l = read_profile_latency(path);
  EXPECT_EQ(l.device, "test CPU");
  EXPECT_EQ(l.units.size(), a.report.units.size());
  EXPECT_EQ(l.forward_ms, a.report.unobserved_ms.median);
  EXPECT_NE(profile_table(back.report).find("timer backend"), std::string::npos);
}

// A profile of a channels-last UNet says so (profile.json's memory_format, the table, the latency
// view asdm search reads, which then measures its candidates the same way); an eager NCHW one
// writes nothing.
TEST(ProfileArtifact, AChannelsLastProfileSaysSo) {
  UNet u = tiny_unet();
  ProfileArtifact a = profile_artifact(u, 1);
  EXPECT_FALSE(a.report.channels_last);
  EXPECT_EQ(a.to_json().dump().find("memory_format"), std::string::npos);
  u.set_channels_last(true);
  a = profile_artifact(u, 1);
  EXPECT_TRUE(a.report.channels_last);
  const auto path = test::scratch_dir("profile_io_nhwc") / "profile.json";
  a.write(path);
  EXPECT_NE(read_text_file(path).find("\"memory_format\": \"channels_last\""), std::string::npos);
  EXPECT_TRUE(ProfileArtifact::read(path).report.channels_last);
  EXPECT_TRUE(read_profile_latency(path).channels_last);
  EXPECT_NE(profile_table(a.report).find("channels-last (NHWC)"), std::string::npos);
}

TEST(ProfileArtifact, CuptiAndSamplerLoopFieldsSurvive) {
  ProfileArtifact a;
  a.header = ArtifactHeader::make(a.kArtifact, a.kSchemaVersion, {});
  a.report.backend = a.report.requested_backend = "cupti";
  a.report.backend_detail = "launch callbacks";
  a.report.sampler_steps = 4;
  a.report.sampler = "ddim";
  a.report.guidance = 7.5;
  a.report.device_ms = {3, 1.0, 0.9, 1.1, 1.0, 0.1};
  a.report.activities = 120;
  a.report.unattributed = 2;
  a.report.dropped = 0;
  UnitProfile u;
  u.id = "down_blocks.0.attentions.0";
  u.kind = UnitKind::kAttention;
  u.kernel_count = 12;
  u.top_kernels = {{"sm90_gemm", 0.25, 4}};
  a.report.units.push_back(u);
  const nlohmann::json j = a.to_json();
  EXPECT_EQ(j["mode"]["kind"], "sampler-loop");
  EXPECT_EQ(ProfileArtifact::from_json(j).to_json(), j);
  EXPECT_EQ(test::error_of([&] { ProfileArtifact::from_json(nlohmann::json::object(), "p.json"); }),
            "p.json is not a profile.json (make one with asdm profile)");
}

// A report whose top-level units' medians are `ms` each and whose unobserved forward is `forward`;
// the last unit is a child (a TransformerBlock inside its Transformer2D), counted in its parent.
ProfileReport shares(const std::vector<double>& ms, double forward) {
  ProfileReport r;
  r.backend = "timer";
  r.unobserved_ms.median = r.forward_ms.median = forward;
  for (size_t i = 0; i < ms.size(); ++i) {
    UnitProfile u;
    u.id = "unit" + std::to_string(i);
    u.inclusive_ms.median = u.exclusive_ms.median = ms[i];
    r.units.push_back(u);
  }
  UnitProfile child;
  child.id = "unit0.block";
  child.parent = "unit0";
  child.inclusive_ms.median = 100;
  r.units.push_back(child);
  return r;
}

TEST(ProfileArtifact, UnitShareWarnsWhenTheUnitsMissTheForward) {
  // Quiet: the units cover 96% of the forward; the table says nothing more.
  const ProfileReport quiet = shares({4, 5.6}, 10);
  EXPECT_DOUBLE_EQ(unit_share(quiet), 0.96);
  EXPECT_EQ(unit_share_warning("p.json", 0.96, 10), "");
  EXPECT_EQ(profile_table(quiet).find("warning:"), std::string::npos);
  // Busy: a stall somewhere in every forward (CI's 191 ms forward against units of 11 ms).
  const ProfileReport busy = shares({5, 6.5}, 191.31);
  EXPECT_NEAR(unit_share(busy), 0.0601, 1e-4);
  EXPECT_NE(profile_table(busy).find("warning: in this profile the units add up to 6% of the "
                                     "forward's 191.31 ms"),
            std::string::npos)
      << profile_table(busy);
  EXPECT_NE(unit_share_warning("p.json", 1.5, 10).find("in p.json the units add up to 150%"),
            std::string::npos);
  // Sampler loops time whole loops against per-call units: no share, no warning.
  ProfileReport loop = busy;
  loop.sampler_steps = 4;
  EXPECT_EQ(unit_share(loop), 0);
  EXPECT_EQ(profile_table(loop).find("warning:"), std::string::npos);
}

}  // namespace
}  // namespace asdm
