// Grouped scores of whole cache plans: a plan that reuses nothing (or reuses and removes only
// zeroed branches) scores exactly 0 against the teacher (eps, ssim) or the teacher's own proxy FID
// (fid), one reuse alone scores what temporal.json measured for it (the search's scale), units
// reused together are not their sum, and plans for another model or sampler are refused.
#include "analysis/plan_scoring.h"

#include <cmath>

#include <gtest/gtest.h>

#include "analysis/subject.h"
#include "analysis/temporal.h"
#include "core/error.h"
#include "model/unet.h"
#include "proxy/classifier.h"
#include "tests/analysis/fixtures.h"

namespace asdm {
namespace {

const std::string kZero = "down_blocks.1.resnets.0", kLive = "mid_block.resnets.0",
                  kLive2 = "up_blocks.1.resnets.0";

PlanScoreOptions options(const std::string& metric) {
  PlanScoreOptions o;
  o.metric = metric;
  o.sampler.steps = 5;
  o.sampler.guidance = 1.0;
  o.batch = 4;
  return o;
}

CachePlan plan_for(const AblationSubject& s, std::vector<std::vector<std::string>> reuse) {
  CachePlan p;
  p.model = s.unet().spec();
  p.calls = static_cast<int>(reuse.size());
  p.reuse = std::move(reuse);
  return p;
}

// Each test its own folder: CTest runs them at once, and one adds a classifier beside the pipeline.
test::ProxyFixture fixture(const std::string& name) {
  return test::make_proxy_fixture("plan_scoring_" + name, [](UNet& u) {
    test::scale_parameters(u, {kZero + ".conv2.weight", kZero + ".conv2.bias"}, 0.0);
  });
}

TEST(PlanScoring, NothingReusedAndZeroedBranchesScoreZero) {
  torch::set_num_threads(1);
  const auto f = fixture("zero");
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  for (const std::string metric : {"eps", "ssim"}) {
    const PlanScorer scorer(s, options(metric));
    EXPECT_EQ(scorer.calls(), 5);
    EXPECT_EQ(scorer.score(plan_for(s, {{}, {}, {}, {}, {}})), 0.0) << metric;
    EXPECT_EQ(scorer.score(plan_for(s, {{}, {kZero}, {kZero}, {}, {kZero}})), 0.0) << metric;
    CachePlan removal = plan_for(s, {{}, {}, {}, {}, {}});
    removal.model.edits.push_back(Edit::remove(kZero));
    EXPECT_EQ(scorer.score(removal), 0.0) << metric;
    removal.model.edits.back() = Edit::remove(kLive);
    EXPECT_GT(scorer.score(removal), 0.0) << metric;
    EXPECT_GT(scorer.score(plan_for(s, {{}, {kLive}, {kLive}, {}, {kLive}})), 0.0) << metric;
  }
}

TEST(PlanScoring, FidScoresTheTeachersProxyFidWhenNothingChanges) {
  torch::set_num_threads(1);
  const auto f = fixture("fid");
  // Without a classifier beside the pipeline there is no proxy FID to score.
  const auto bare = load_proxy_subject(f.pipeline, f.prompts);
  try {
    PlanScorer(bare, options("fid"));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attribute classifier"), std::string::npos) << e.what();
  }
  proxy::AttributeClassifier c(proxy::world_spec("test"));
  proxy::AttributeClassifier::TrainOptions to;
  to.steps = 5;
  c.train(to, 10);
  c.save(f.dir / "classifier");
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  const PlanScorer scorer(s, options("fid"));
  const double teacher = scorer.teacher_quality();
  EXPECT_GT(teacher, 0.0);
  EXPECT_EQ(scorer.score(plan_for(s, {{}, {}, {}, {}, {}})), teacher);
  EXPECT_EQ(scorer.score(plan_for(s, {{}, {kZero}, {kZero}, {}, {kZero}})), teacher);
  const double live = scorer.score(plan_for(s, {{}, {kLive}, {kLive}, {}, {kLive}}));
  EXPECT_GT(live, 0.0);
  EXPECT_NE(live, teacher);
  EXPECT_TRUE(std::isnan(PlanScorer(s, options("eps")).teacher_quality()));
}

TEST(PlanScoring, OneReuseScoresTheTemporalRunsOneStepCost) {
  torch::set_num_threads(1);
  const auto f = fixture("one_reuse");
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  TemporalOptions t;
  t.sampler.steps = 5;
  t.sampler.guidance = 1.0;
  t.batch = 4;
  t.bootstrap = 10;
  t.max_gap = 1;
  t.units = {kLive, kLive2};
  RunContext cx;
  cx.argv = {"test"};
  const TemporalArtifact doc = run_temporal(s, t, cx, f.dir / "temporal.json", false);
  const PlanScorer scorer(s, options("eps"));
  double sum = 0;
  for (int c = 1; c < 5; ++c)
    for (const std::string& id : {kLive, kLive2}) {
      std::vector<std::vector<std::string>> reuse(5);
      reuse[c] = {id};
      const double expected = doc.unit(id).reuse_nmse[c];
      ASSERT_GT(expected, 0.0);
      EXPECT_NEAR(scorer.score(plan_for(s, reuse)), expected, 1e-9 * expected)
          << id << " call " << c;
      if (c == 3) sum += expected;
    }
  // Both at call 3: the deep unit's stale branch feeds the other one's input, so the grouped score
  // is not the sum the search adds up.
  std::vector<std::vector<std::string>> both(5);
  both[3] = {kLive, kLive2};
  const double grouped = scorer.score(plan_for(s, both));
  EXPECT_GT(grouped, 0.0);
  EXPECT_GT(std::abs(grouped - sum), 1e-6 * sum);
}

TEST(PlanScoring, PlansForAnotherModelOrSamplerAreRefused) {
  torch::set_num_threads(1);
  const auto f = fixture("refused");
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  const PlanScorer scorer(s, options("eps"));
  auto message = [&](const CachePlan& p) { return test::error_of([&] { scorer.score(p); }); };
  EXPECT_NE(message(plan_for(s, {{}, {}, {}})).find("covers 3 model calls"), std::string::npos);
  EXPECT_NE(message(plan_for(s, {{}, {"mid_block.resnets.7"}, {}, {}, {}})).find("does not have"),
            std::string::npos);
  CachePlan gri = plan_for(s, {{}, {}, {}, {}, {}});
  gri.model.edits.push_back(Edit::gri("mid_block.attentions.0", 4, 0));
  EXPECT_NE(message(gri).find("other than removals"), std::string::npos);
  EXPECT_THROW(PlanScorer(s, options("lpips")), Error);
}

}  // namespace
}  // namespace asdm
