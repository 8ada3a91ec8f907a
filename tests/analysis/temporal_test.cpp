// Temporal analysis (asdm ablate --temporal): its identities (a zeroed branch never changes and
// costs nothing to reuse), resume, the file's round trip, and refused options.
#include "analysis/temporal.h"

#include <cmath>

#include <gtest/gtest.h>

#include "analysis/subject.h"
#include "core/error.h"
#include "tests/analysis/fixtures.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

RunContext context() {
  RunContext c;
  c.argv = {"test"};
  return c;
}

TemporalOptions small_temporal() {
  TemporalOptions o;
  o.sampler.steps = 5;
  o.sampler.guidance = 1.0;
  o.batch = 4;
  o.bootstrap = 100;
  o.max_gap = 2;
  o.intervals = {2, 3};
  return o;
}

TEST(Temporal, AZeroedBranchNeverChangesAndCostsNothingToReuse) {
  torch::set_num_threads(1);
  const std::string res = "down_blocks.1.resnets.0", attn = "up_blocks.2.attentions.1",
                    live = "mid_block.resnets.0";
  const auto f = test::make_proxy_fixture("temporal_zero", [&](UNet& u) {
    test::scale_parameters(u,
                           {res + ".conv2.weight", res + ".conv2.bias", attn + ".proj_out.weight",
                            attn + ".proj_out.bias"},
                           0.0);
  });
  TemporalOptions o = small_temporal();
  o.tier = "both";
  o.units = {live, attn, res};  // any order: the file keeps forward order
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  const TemporalArtifact doc = run_temporal(s, o, context(), f.dir / "temporal.json", false);
  EXPECT_TRUE(doc.complete);
  EXPECT_EQ(doc.settings.calls, 5);
  EXPECT_EQ(doc.prompts_done, 6);
  ASSERT_EQ(doc.units.size(), 3u);
  EXPECT_EQ(doc.units[0].id, res);
  EXPECT_EQ(doc.units[1].id, live);
  EXPECT_EQ(doc.units[2].id, attn);
  for (const auto& id : {res, attn}) {
    const TemporalUnit& u = doc.unit(id);
    EXPECT_EQ(u.change.mean, 0.0) << id;
    EXPECT_EQ(u.reuse_cost.mean, 0.0) << id;
    for (int c = 1; c < 5; ++c) EXPECT_EQ(u.reuse_nmse[c], 0.0) << id << " call " << c;
    ASSERT_EQ(u.uniform.size(), 2u);
    for (const auto& r : u.uniform) {
      EXPECT_EQ(r.ssim_loss.mean, 0.0) << id << " k" << r.interval;
      EXPECT_EQ(r.psnr_db.mean, 100.0) << id << " k" << r.interval;
    }
  }
  const TemporalUnit& u = doc.unit(live);
  EXPECT_GT(u.change.mean, 0.0);
  EXPECT_GT(u.reuse_cost.mean, 0.0);
  EXPECT_TRUE(std::isnan(u.reuse_nmse[0]));
  EXPECT_TRUE(std::isnan(u.change_sq[1][1]));  // gap 2 needs two calls before
  EXPECT_GT(u.change_sq[1][2], 0.0);
  EXPECT_EQ(u.reuse_cost_at(3, 1), u.reuse_nmse[3]);
  EXPECT_DOUBLE_EQ(u.reuse_cost_at(3, 2), u.reuse_nmse[3] * u.change_sq[1][3] / u.change_sq[0][3]);
  EXPECT_TRUE(std::isnan(u.reuse_cost_at(1, 2)));
  // Reusing a live unit every 2nd call moves the samples, every 3rd moves them less often.
  ASSERT_EQ(u.uniform.size(), 2u);
  EXPECT_GT(u.uniform[0].ssim_loss.mean, 0.0);
  EXPECT_EQ(u.uniform[0].reusing_calls, 2);  // calls 1, 3
  EXPECT_EQ(u.uniform[1].reusing_calls, 3);  // calls 1, 2, 4
  // The file reads back as written, and the table names every unit.
  const TemporalArtifact back = TemporalArtifact::read(f.dir / "temporal.json");
  EXPECT_EQ(back.to_json(), doc.to_json());
  const std::string table = temporal_table(back, 0);
  for (const auto& id : {res, attn, live}) EXPECT_NE(table.find(id), std::string::npos) << table;
}

// The reuse probes replay the teacher's forward up to the probed unit: the numbers of probes
// computed whole, for units early, in the middle and late in the forward.
TEST(Temporal, ProbesReplayingTheTeachersPrefixGiveTheWholeForwardsNumbers) {
  torch::set_num_threads(1);
  const auto f = test::make_proxy_fixture("temporal_prefix_replay");
  TemporalOptions o = small_temporal();
  o.sampler.guidance = 3.0;
  o.units = {"down_blocks.0.resnets.1", "mid_block.attentions.0", "up_blocks.2.attentions.1",
             "up_blocks.3.resnets.2"};
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  o.prefix_replay = false;
  const TemporalArtifact whole = run_temporal(s, o, context(), f.dir / "whole.json", false);
  o.prefix_replay = true;
  const TemporalArtifact replayed = run_temporal(s, o, context(), f.dir / "replayed.json", false);
  ASSERT_EQ(whole.units.size(), 4u);
  ASSERT_EQ(replayed.units.size(), 4u);
  for (size_t i = 0; i < whole.units.size(); ++i) {
    const auto &a = whole.units[i], &b = replayed.units[i];
    EXPECT_EQ(a.per_prompt_reuse, b.per_prompt_reuse) << a.id;
    EXPECT_EQ(a.per_prompt_change, b.per_prompt_change) << a.id;
    EXPECT_GT(a.reuse_cost.mean, 0) << a.id;
  }
}

TEST(Temporal, ResumeAfterAnInterruptionGivesTheSameResults) {
  torch::set_num_threads(1);
  const auto f = test::make_proxy_fixture("temporal_resume");
  TemporalOptions o = small_temporal();
  o.tier = "both";
  o.batch = 2;  // three prompt batches
  o.intervals = {2};
  o.units = {"down_blocks.0.attentions.0", "mid_block.attentions.0", "up_blocks.3.resnets.1"};
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  const TemporalArtifact whole = run_temporal(s, o, context(), f.dir / "whole.json", false);
  struct Stop {};
  const fs::path out = f.dir / "resumed.json";
  // Stopped in the second batch of tier 1 (5 calls per batch).
  EXPECT_THROW(run_temporal(s, o, context(), out, false,
                            [](const AblationProgress& p) {
                              if (p.done == 7) throw Stop{};
                            }),
               Stop);
  const TemporalArtifact partial = TemporalArtifact::read(out);
  EXPECT_FALSE(partial.complete);
  EXPECT_EQ(partial.prompts_done, 2);
  EXPECT_EQ(test::error_of([&] { run_temporal(s, o, context(), out, false); }),
            out.string() +
                " holds the partial results of an unfinished run; continue it with --resume, or "
                "remove the file");
  TemporalOptions other = o;
  other.max_gap = 3;
  EXPECT_EQ(test::error_of([&] { run_temporal(s, other, context(), out, true); })
                .rfind("cannot resume from " + out.string() +
                           ": it was made with other settings (max_gap: 2 vs 3",
                       0),
            0u);
  int first = -1;
  const TemporalArtifact resumed =
      run_temporal(s, o, context(), out, true, [&](const AblationProgress& p) {
        if (first < 0 && p.tier != "teacher") first = p.done;
        EXPECT_EQ(p.resumed, 5);
      });
  EXPECT_EQ(first, 6);
  ASSERT_EQ(resumed.units.size(), whole.units.size());
  for (size_t i = 0; i < whole.units.size(); ++i) {
    const auto &a = whole.units[i], &b = resumed.units[i];
    EXPECT_EQ(a.per_prompt_reuse, b.per_prompt_reuse) << a.id;
    EXPECT_EQ(a.per_prompt_change, b.per_prompt_change) << a.id;
    for (size_t c = 1; c < a.reuse_nmse.size(); ++c)  // means rebuilt from the file's means
      EXPECT_NEAR(a.reuse_nmse[c], b.reuse_nmse[c], 1e-12 * a.reuse_nmse[c]) << a.id << " " << c;
    ASSERT_EQ(a.uniform.size(), 1u);
    ASSERT_EQ(b.uniform.size(), 1u);
    EXPECT_EQ(a.uniform[0].ssim_loss.mean, b.uniform[0].ssim_loss.mean) << a.id;
  }
  EXPECT_EQ(resumed.teacher.fingerprint, whole.teacher.fingerprint);
}

TEST(Temporal, BadOptionsAreRefusedBeforeAnyWork) {
  const auto f = test::make_proxy_fixture("temporal_bad");
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  const fs::path out = f.dir / "t.json";
  auto error = [&](const std::function<void(TemporalOptions&)>& change) {
    TemporalOptions o = small_temporal();
    change(o);
    return test::error_of([&] { run_temporal(s, o, context(), out, false); });
  };
  EXPECT_EQ(error([](auto& o) { o.tier.assign(1, '3'); }), "tier must be 1, 2 or both (got '3')");
  EXPECT_EQ(error([](auto& o) {
              o.tier.assign(1, '2');
              o.intervals.assign(1, 9);
            }),
            "intervals must be in 2..5 (the model calls; got 9)");
  EXPECT_EQ(
      error([](auto& o) { o.units = {"conv_in"}; }).rfind("unit 'conv_in' has no shortcut", 0), 0u);
  EXPECT_EQ(error([](auto& o) { o.units = {"nope"}; }).rfind("unit 'nope' not found", 0), 0u);
  EXPECT_EQ(error([](auto& o) { o.sampler.steps = 1; }),
            "temporal analysis needs at least 2 model calls (got 1)");
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace asdm
