// The search over reuses (and removals): the optimum of brute force on small instances, the
// staleness limit, removals against reuses on one scale, baselines priced by the same model, and
// the errors a user meets.
#include "pruner/temporal_search.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "analysis/temporal_record.h"
#include "core/error.h"
#include "model/model_files.h"
#include "model/unet_layout.h"
#include "pruner/latency_model.h"
#include "tests/pruner/temporal_fixtures.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

using test::profile_of;
using test::temporal_of;
using test::tiny_spec;

// Every reuse pattern of `units` over calls 1..C-1 with no branch staler than max_gap.
double brute_force(const UNetLayout& layout, const LatencyModel& lat, const TemporalArtifact& t,
                   double budget_ms, int max_gap) {
  const int C = t.settings.calls;
  const int bits = static_cast<int>(t.units.size()) * (C - 1);
  double best = INFINITY;
  for (uint32_t mask = 0; mask < (1u << bits); ++mask) {
    std::vector<std::vector<std::string>> reuse(C);
    bool ok = true;
    for (size_t u = 0; u < t.units.size() && ok; ++u) {
      int run = 0;
      for (int c = 1; c < C; ++c) {
        const bool r = mask >> (u * (C - 1) + (c - 1)) & 1u;
        run = r ? run + 1 : 0;
        if (run > max_gap) ok = false;
        if (r) reuse[c].push_back(t.units[u].id);
      }
    }
    if (!ok) continue;
    const TemporalCandidate p = predict_plan(layout, lat, t, reuse);
    if (p.predicted_ms <= budget_ms + 1e-9) best = std::min(best, p.reuse_loss);
  }
  return best;
}

TEST(TemporalSearch, MatchesBruteForceOnSmallInstances) {
  const ArchSpec spec = tiny_spec();
  const UNetLayout layout = spec.student_layout();
  std::vector<std::string> top;
  for (const auto& u : layout.units)
    if (u.removable() && u.parent.empty()) top.push_back(u.id);
  ASSERT_GE(top.size(), 3u);
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    const LatencyModel lat(profile_of(layout, seed), layout);
    // Two free units over six calls: 2^10 patterns.
    const std::vector<std::string> units{top[seed % top.size()], top[(seed + 2) % top.size()]};
    const TemporalArtifact t = temporal_of(units, 6, 2, seed + 10);
    TemporalSearchOptions o;
    o.max_candidates = 1;
    o.bins = 100000;
    const double full = 6 * lat.teacher_ms();
    const double most = 4 * (lat.saved_ms(units[0]) + lat.saved_ms(units[1]));
    o.target_speedup = 0.6 * most / full;
    const TemporalSearchResult r = temporal_search(layout, lat, t, {}, o);
    ASSERT_EQ(r.candidates.size(), 1u);
    const TemporalCandidate& c = r.candidates[0];
    EXPECT_GE(c.predicted_speedup, o.target_speedup - 1e-12);
    const double exact = brute_force(layout, lat, t, (1 - o.target_speedup) * full, 2);
    EXPECT_NEAR(c.reuse_loss, exact, 1e-12 + 1e-9 * exact) << "seed " << seed;
    // Its plan is priced the same by predict_plan, and never reuses at call 0.
    const TemporalCandidate again = predict_plan(layout, lat, t, c.reuse);
    EXPECT_NEAR(again.reuse_loss, c.reuse_loss, 1e-12);
    EXPECT_NEAR(again.predicted_ms, c.predicted_ms, 1e-9);
    EXPECT_TRUE(c.reuse[0].empty());
  }
}

TEST(TemporalSearch, CandidatesRespectTheGapTheTargetAndKeep) {
  const ArchSpec spec = tiny_spec();
  const UNetLayout layout = spec.student_layout();
  const LatencyModel lat(profile_of(layout, 3), layout);
  std::vector<std::string> top;
  for (const auto& u : layout.units)
    if (u.removable() && u.parent.empty()) top.push_back(u.id);
  const TemporalArtifact t = temporal_of(top, 12, 3, 5);
  TemporalSearchOptions o;
  o.target_speedup = 0.3;
  o.max_candidates = 4;
  o.candidate_step = 0.05;
  o.max_gap = 2;
  o.keep = {top[0]};
  const TemporalSearchResult r = temporal_search(layout, lat, t, {}, o);
  ASSERT_FALSE(r.candidates.empty());
  double last_loss = 0;
  for (size_t i = 0; i < r.candidates.size(); ++i) {
    const auto& c = r.candidates[i];
    EXPECT_GE(c.predicted_speedup, o.target_speedup + i * o.candidate_step - 1e-12) << c.name;
    EXPECT_GE(c.reuse_loss, last_loss);  // a larger speed-up never costs less
    last_loss = c.reuse_loss;
    std::map<std::string, int> run;
    for (int call = 0; call < 12; ++call) {
      std::set<std::string> here(c.reuse[call].begin(), c.reuse[call].end());
      EXPECT_FALSE(here.count(top[0])) << "kept unit reused";
      for (const auto& id : top) {
        run[id] = here.count(id) ? run[id] + 1 : 0;
        EXPECT_LE(run[id], 2) << id << " at call " << call;
      }
    }
    // The cache plan it becomes checks against the model.
    const CachePlan p = candidate_plan(c, spec, 12, "ddim");
    EXPECT_NO_THROW(p.check(spec, 12));
  }
}

TEST(TemporalSearch, RemovesAUnitWhenThatIsCheaperThanReusingIt) {
  const ArchSpec spec = tiny_spec();
  const UNetLayout layout = spec.student_layout();
  const LatencyModel lat(profile_of(layout, 7), layout);
  std::vector<std::string> top;
  for (const auto& u : layout.units)
    if (u.removable() && u.parent.empty() && u.kind == UnitKind::kResBlock) top.push_back(u.id);
  const TemporalArtifact t = temporal_of(top, 8, 2, 9);
  std::map<std::string, double> scores;
  for (const auto& id : layout.ids(true)) scores[id] = 1.0;  // removing costs a lot ...
  scores[top[1]] = 0.0;                                      // ... but for one free unit
  TemporalSearchOptions o;
  o.removals = true;
  // Removing that unit alone meets the target.
  o.target_speedup = 0.9 * lat.saved_ms(top[1]) / lat.teacher_ms();
  o.max_candidates = 1;
  o.removal.keep_cross_attention = false;
  const TemporalSearchResult r = temporal_search(layout, lat, t, scores, o);
  ASSERT_EQ(r.candidates.size(), 1u);
  const auto& c = r.candidates[0];
  EXPECT_EQ(c.removal_loss, 0.0);
  EXPECT_EQ(c.removed, std::vector<std::string>{top[1]});
  EXPECT_EQ(c.reuses, 0);
  for (const auto& call : c.reuse)
    for (const auto& id : call) EXPECT_EQ(std::count(c.removed.begin(), c.removed.end(), id), 0);
  // The removal set is an ArchSpec edit of the plan's model.
  const CachePlan p = candidate_plan(c, spec, 8, "ddim");
  EXPECT_EQ(p.model.removed_units().size(), c.removed.size());
}

TEST(TemporalSearch, ErrorsNameTheProblem) {
  const ArchSpec spec = tiny_spec();
  const UNetLayout layout = spec.student_layout();
  const LatencyModel lat(profile_of(layout, 2), layout);
  const auto ids = layout.ids(true);
  const TemporalArtifact t = temporal_of({ids[0]}, 6, 2, 1);
  TemporalSearchOptions o;
  o.target_speedup = 0.9;
  EXPECT_EQ(test::error_of([&] {
              temporal_search(layout, lat, t, {}, o);
            }).rfind("a 90.0% speed-up of the sampling run is out of reach: the best is ", 0),
            0u);
  o.target_speedup = 0.01;
  o.removals = true;
  EXPECT_EQ(test::error_of([&] { temporal_search(layout, lat, t, {}, o); }),
            "removals need importance scores (asdm ablate's importance.json)");
  o.removals = false;
  o.keep = {"nope"};
  EXPECT_EQ(test::error_of([&] { temporal_search(layout, lat, t, {}, o); }).rfind("unit 'nope'", 0),
            0u);
  EXPECT_EQ(test::error_of(
                [&] { predict_plan(layout, lat, t, std::vector<std::vector<std::string>>(5)); }),
            "the plan covers 5 model calls, temporal.json 6");
}

}  // namespace
}  // namespace asdm
