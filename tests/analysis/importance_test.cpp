// importance.json through its struct: a real run (both tiers, a group, latency from a profile,
// proxy quality) read back and written again is the same document, so the struct holds every
// field the ablation writes; the tables and the search's scores come from it.
#include "analysis/importance.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "analysis/ablation.h"
#include "analysis/subject.h"
#include "profiler/profile_io.h"
#include "tests/analysis/fixtures.h"

namespace asdm {
namespace {

TEST(ImportanceArtifact, ARealRunSurvivesARoundTrip) {
  torch::set_num_threads(1);
  const auto f = test::make_proxy_fixture("importance_roundtrip", {}, 4);
  ProfileArtifact profile;
  profile.header = ArtifactHeader::make(ProfileArtifact::kArtifact, ProfileArtifact::kSchemaVersion,
                                        test::run_context({}, "test"));
  profile.report.backend = "timer";
  profile.report.unobserved_ms.median = 20.0;
  const std::vector<std::string> units = {"down_blocks.0.resnets.0", "down_blocks.0.attentions.0",
                                          "up_blocks.2.attentions.1"};
  for (const auto& id : units) {
    UnitProfile u;
    u.id = id;
    u.kind =
        id.find("attentions") != std::string::npos ? UnitKind::kAttention : UnitKind::kResBlock;
    u.inclusive_ms.median = u.exclusive_ms.median = 2.0;
    profile.report.units.push_back(u);
  }
  profile.write(f.dir / "profile.json");
  AblationOptions o = test::small_options();
  o.tier = "both";
  o.units = units;
  o.groups = {{units[0], units[2]}};
  o.profile = read_profile_latency(f.dir / "profile.json");
  RunContext ctx;
  ctx.argv = {"test"};
  const auto out = f.dir / "importance.json";
  run_ablation(load_proxy_subject(f.pipeline, f.prompts), o, ctx, out, false);

  const nlohmann::json written = read_json_file(out);
  const ImportanceArtifact a = ImportanceArtifact::read(out);
  EXPECT_EQ(a.to_json(), written);
  EXPECT_TRUE(a.complete);
  ASSERT_EQ(a.results.size(), 4u);  // three units and the group
  EXPECT_TRUE(a.results[0].tier1 && a.results[0].tier2 && a.results[0].latency_saved_ms);
  EXPECT_EQ(a.results[3].kind, "group");
  EXPECT_FALSE(a.results[3].interaction.empty());
  EXPECT_EQ(a.settings.plan.size(), 4u);
  // The readers that go through it.
  EXPECT_TRUE(importance_complete(out));
  EXPECT_EQ(read_importance_scores(out, "tier2").units.size(), 3u);
  EXPECT_NE(test::error_of([&] {
              read_importance_scores(out, "clip");
            }).find("no CLIP-score scores (asdm ablate --tier 2 --clip records them)"),
            std::string::npos);
  // With CLIP scores (an SD pipeline ablated with --clip): the drop from the teacher's, 0 when it
  // rose.
  ImportanceArtifact with_clip = a;
  for (size_t i = 0; i < 3; ++i)
    with_clip.results[i].tier2->quality_delta = {{"clip_score", 0.5 - 0.5 * double(i)}};
  with_clip.write(f.dir / "clip.json");
  const auto clip = read_importance_scores(f.dir / "clip.json", "clip");
  ASSERT_EQ(clip.units.size(), 3u);
  EXPECT_EQ(clip.units.at(a.results[0].id), 0.0);
  EXPECT_EQ(clip.units.at(a.results[1].id), 0.0);
  EXPECT_EQ(clip.units.at(a.results[2].id), 0.5);
  const std::string table = importance_file_table(out, 0);
  EXPECT_NE(table.find("1-SSIM"), std::string::npos) << table;
  EXPECT_NE(table.find("by importance per ms saved"), std::string::npos) << table;
}

}  // namespace
}  // namespace asdm
