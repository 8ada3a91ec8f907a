// Refinement: swaps out of an interacting pair when the grouped loss says so, stays within the
// budget and the search's constraints, and stops within its evaluation budget.
#include "pruner/refine.h"

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "model/model_files.h"
#include "model/unet_layout.h"
#include "pruner/latency_model.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(Refine, SwapsOutOfAnInteractingPairWithinTheBudget) {
  const UNetLayout layout = load_arch(locate_model(test::config_path("tiny"))).student_layout();
  std::mt19937 g(7);
  std::uniform_real_distribution<double> t(0.5, 10.0);
  ProfileLatency p;
  p.forward_ms = 5;
  for (const auto& u : layout.units) {
    const double ms = t(g);
    p.units[u.id] = {ms, ms, u.parent};
    if (u.parent.empty()) p.forward_ms += ms;
  }
  const LatencyModel lat(p, layout);
  std::exponential_distribution<double> e(10.0);
  std::map<std::string, double> scores;
  for (const auto& id : layout.ids(true)) scores[id] = e(g);
  SearchOptions o;
  o.target_speedup = 0.3;
  const SearchResult r = search(layout, lat, scores, o);
  const std::vector<std::string> start = r.candidates.at(0).removed;
  ASSERT_GE(start.size(), 2u);
  // Removing the first two units of the start together costs far more than their sum.
  const std::string a = start[0], b = start[1];
  std::vector<std::vector<std::string>> seen;
  auto grouped = [&](const std::vector<std::string>& set) {
    seen.push_back(set);
    double l = 0;
    for (const auto& id : set) l += scores.at(id);
    const bool both =
        std::count(set.begin(), set.end(), a) && std::count(set.begin(), set.end(), b);
    return l + (both ? 10.0 : 0.0);
  };
  const double budget = (1 - o.target_speedup) * lat.teacher_ms();
  const RefineResult rr = refine(layout, lat, scores, o, start, budget, grouped,
                                 {.max_evaluations = 200, .per_round = 50});
  EXPECT_GT(rr.start_loss, 10.0);
  EXPECT_LT(rr.loss, 10.0);
  EXPECT_FALSE(std::count(rr.removed.begin(), rr.removed.end(), a) &&
               std::count(rr.removed.begin(), rr.removed.end(), b));
  EXPECT_LE(lat.predict_ms(rr.removed), budget);
  EXPECT_FALSE(rr.steps.empty());
  EXPECT_EQ(rr.evaluations, static_cast<int>(seen.size()));
  // Every evaluated set met the budget and kept a cross-attention in each block that has one.
  for (const auto& set : seen) {
    EXPECT_LE(lat.predict_ms(set), budget);
    for (const auto& blk : layout.down) {
      if (!blk.cross_attention) continue;
      bool kept = false;
      for (int i : blk.attentions)
        kept = kept || !std::count(set.begin(), set.end(), layout.units[i].id);
      EXPECT_TRUE(kept) << blk.id;
    }
  }
  // The evaluation budget holds.
  const RefineResult few = refine(layout, lat, scores, o, start, budget, grouped,
                                  {.max_evaluations = 3, .per_round = 50});
  EXPECT_LE(few.evaluations, 3);
}

}  // namespace
}  // namespace asdm
