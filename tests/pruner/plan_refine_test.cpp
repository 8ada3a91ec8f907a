// The refinement of searched cache plans with grouped scores: no move where the additive model is
// exact, reuses taken apart where two units interact (within the start's time), local moves that
// keep each unit's pattern, the evaluation limit, and the plans and budgets it refuses.
#include "pruner/plan_refine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "analysis/temporal_record.h"
#include "core/error.h"
#include "model/unet_layout.h"
#include "pruner/latency_model.h"
#include "tests/pruner/temporal_fixtures.h"

namespace asdm {
namespace {

constexpr int kCalls = 12;

// Every unit 1 ms and the run 240 ms at 240 bins: the search's knapsack is exact, so its plan is
// the optimum of the additive loss over every choice of reuse counts.
struct Instance {
  ArchSpec spec = test::tiny_spec();
  UNetLayout layout = spec.student_layout();
  LatencyModel latency{unit_times(layout), layout};
  std::vector<std::string> top = top_units(layout);
  TemporalArtifact temporal = test::temporal_of(top, kCalls, 3, 11);
  std::vector<ReuseMenu> menus = reuse_menus(layout, latency, temporal, {}, 3);
  TemporalCandidate start;
  double run_ms = 0;

  Instance() {
    TemporalSearchOptions o;
    o.target_speedup = 0.15;
    o.max_candidates = 1;
    o.max_gap = 3;
    o.bins = 240;
    const TemporalSearchResult r = temporal_search(layout, latency, temporal, {}, o);
    start = r.candidates.at(0);
    run_ms = r.teacher_ms;
  }

  static ProfileLatency unit_times(const UNetLayout& layout) {
    ProfileLatency p;
    p.path = "synthetic.json";
    p.forward_ms = 20.0;
    for (const auto& u : layout.units) p.units[u.id] = {1.0, 1.0, u.parent};
    return p;
  }
  static std::vector<std::string> top_units(const UNetLayout& layout) {
    std::vector<std::string> top;
    for (const auto& u : layout.units)
      if (u.removable() && u.parent.empty()) top.push_back(u.id);
    return top;
  }

  double additive(const TemporalCandidate& c) const {
    return predict_plan(layout, latency, temporal, c.reuse).reuse_loss;
  }
};

int shared_calls(const TemporalCandidate& c, const std::string& a, const std::string& b) {
  int n = 0;
  for (const auto& call : c.reuse)
    n += std::count(call.begin(), call.end(), a) && std::count(call.begin(), call.end(), b);
  return n;
}

TEST(PlanRefine, NoMoveWhereTheAdditiveLossIsExact) {
  const Instance s;
  ASSERT_GT(s.start.reuses, 0);
  PlanRefineOptions o;
  o.max_evaluations = 30;
  int scored = 0;
  const PlanRefineResult r = refine_plan(
      s.layout, s.latency, s.menus, s.start, s.run_ms, s.start.predicted_ms,
      [&](const std::vector<TemporalCandidate>& cs) {
        std::vector<double> l;
        for (const auto& c : cs) l.push_back(s.additive(c));
        scored += int(cs.size());
        return l;
      },
      o);
  EXPECT_TRUE(r.moves.empty());
  EXPECT_EQ(r.candidate.reuse, s.start.reuse);
  EXPECT_DOUBLE_EQ(r.loss, r.start_loss);
  EXPECT_NEAR(r.start_loss, s.start.reuse_loss, 1e-12 * s.start.reuse_loss);
  EXPECT_EQ(r.evaluations, scored);
  EXPECT_GT(r.evaluations, 1);  // moves were scored and none helped
  EXPECT_LE(r.evaluations, o.max_evaluations);
}

TEST(PlanRefine, TakesApartTwoUnitsThatInteract) {
  const Instance s;
  // The two units the start reuses at the most common calls; reusing them together costs extra.
  std::string a, b;
  int most = 0;
  for (size_t i = 0; i < s.top.size(); ++i)
    for (size_t j = i + 1; j < s.top.size(); ++j)
      if (const int n = shared_calls(s.start, s.top[i], s.top[j]); n > most) {
        most = n;
        a = s.top[i];
        b = s.top[j];
      }
  ASSERT_GT(most, 0);
  const double penalty = s.start.reuse_loss;  // per shared call: dominates every additive change
  auto grouped = [&](const TemporalCandidate& c) {
    return s.additive(c) + penalty * shared_calls(c, a, b);
  };
  // Moves are tried in order of their additive change, and those that touch a or b come late: a
  // budget that reaches them.
  PlanRefineOptions o;
  o.max_evaluations = 2000;
  o.per_round = 16;
  const PlanRefineResult r = refine_plan(
      s.layout, s.latency, s.menus, s.start, s.run_ms, s.start.predicted_ms,
      [&](const std::vector<TemporalCandidate>& cs) {
        std::vector<double> l;
        for (const auto& c : cs) l.push_back(grouped(c));
        return l;
      },
      o);
  ASSERT_FALSE(r.moves.empty());
  EXPECT_LT(r.loss, r.start_loss);
  EXPECT_LT(shared_calls(r.candidate, a, b), most);
  EXPECT_DOUBLE_EQ(r.loss, grouped(r.candidate));  // the result is the plan that scored it
  EXPECT_DOUBLE_EQ(r.moves.back().loss, r.loss);
  for (size_t i = 1; i < r.moves.size(); ++i) EXPECT_LT(r.moves[i].loss, r.moves[i - 1].loss);
  EXPECT_LE(r.candidate.predicted_ms, s.start.predicted_ms + 1e-9);  // as fast as the start
  EXPECT_LE(r.evaluations, o.max_evaluations);
  // Its fields agree with the search's model of the same plan, and it is a valid cache plan.
  const TemporalCandidate p = predict_plan(s.layout, s.latency, s.temporal, r.candidate.reuse);
  EXPECT_NEAR(r.candidate.predicted_ms, p.predicted_ms, 1e-9);
  EXPECT_NEAR(r.candidate.reuse_loss, p.reuse_loss, 1e-12 + 1e-9 * p.reuse_loss);
  EXPECT_EQ(r.candidate.reuses, p.reuses);
  EXPECT_NO_THROW(candidate_plan(r.candidate, s.spec, kCalls, "ddim").check(s.spec, kCalls));
}

// Fully correlated errors: at each call the reused units' errors add up as aligned vectors, the
// model the interaction prior fits. Ordered by it, a few scores find what the additive order
// finds later or not at all.
TEST(PlanRefine, TheInteractionPriorFindsCorrelatedErrorsSooner) {
  const Instance s;
  auto correlated = [&](const TemporalCandidate& c) {
    std::map<std::string, int> last;
    double total = 0;
    for (int call = 0; call < kCalls; ++call) {
      double root = 0;
      for (const auto& id : c.reuse[call])
        root += std::sqrt(s.temporal.unit(id).reuse_cost_at(call, call - last[id]));
      total += root * root;
      for (const auto& id : s.top)
        if (std::find(c.reuse[call].begin(), c.reuse[call].end(), id) == c.reuse[call].end())
          last[id] = call;
    }
    return total;
  };
  auto losses = [&](const std::vector<TemporalCandidate>& cs) {
    std::vector<double> l;
    for (const auto& c : cs) l.push_back(correlated(c));
    return l;
  };
  PlanRefineOptions o;
  o.max_evaluations = 4;
  o.per_round = 1;
  const PlanRefineResult prior =
      refine_plan(s.layout, s.latency, s.menus, s.start, s.run_ms, s.start.predicted_ms, losses, o);
  o.interaction_prior = false;
  const PlanRefineResult plain =
      refine_plan(s.layout, s.latency, s.menus, s.start, s.run_ms, s.start.predicted_ms, losses, o);
  EXPECT_GT(prior.start_loss, s.start.reuse_loss);  // the interactions are there
  EXPECT_FALSE(prior.moves.empty());
  EXPECT_LT(prior.loss, prior.start_loss);
  EXPECT_LT(prior.loss, plain.loss);
}

// The calls at which `unit` is reused.
std::set<int> calls_of(const TemporalCandidate& c, const std::string& unit) {
  std::set<int> out;
  for (size_t k = 0; k < c.reuse.size(); ++k)
    if (std::count(c.reuse[k].begin(), c.reuse[k].end(), unit)) out.insert(int(k));
  return out;
}

// From a plan that is not the search's (DeepCache's every-other-call pattern on every unit), one
// move: a local move drops calls from one unit's pattern and adds calls to another's, every other
// call of every unit as it was; a menu move redraws both units' patterns as their menus'.
TEST(PlanRefine, LocalMovesKeepEachPatternButTheCallsTheyMove) {
  const Instance s;
  std::vector<std::vector<std::string>> reuse(kCalls);
  for (int c = 1; c < kCalls; c += 2) reuse[c] = s.top;
  const TemporalCandidate start = predict_plan(s.layout, s.latency, s.temporal, reuse);
  auto exact = [&](const std::vector<TemporalCandidate>& cs) {
    std::vector<double> l;
    for (const auto& c : cs) l.push_back(s.additive(c));
    return l;
  };
  PlanRefineOptions o;
  o.max_evaluations = 2;  // the start and the first move in additive order
  o.per_round = 1;
  o.interaction_prior = false;
  o.local_moves = true;
  const PlanRefineResult local =
      refine_plan(s.layout, s.latency, s.menus, start, s.run_ms, start.predicted_ms, exact, o);
  EXPECT_NEAR(local.start_loss, start.reuse_loss, 1e-12 * start.reuse_loss);  // exact start costs
  ASSERT_EQ(local.moves.size(), 1u);  // the loss is exactly additive: the best change improves
  const PlanMove& m = local.moves[0];
  EXPECT_LT(m.loss, local.start_loss);
  for (const auto& id : s.top) {
    const std::set<int> before = calls_of(start, id), after = calls_of(local.candidate, id);
    if (id == m.fewer) {
      EXPECT_LT(after.size(), before.size());
      EXPECT_TRUE(std::includes(before.begin(), before.end(), after.begin(), after.end())) << id;
    } else if (id == m.more) {
      EXPECT_GT(after.size(), before.size());
      EXPECT_TRUE(std::includes(after.begin(), after.end(), before.begin(), before.end())) << id;
    } else {
      EXPECT_EQ(after, before) << id;
    }
  }
  EXPECT_LE(local.candidate.predicted_ms, start.predicted_ms + 1e-9);
  const TemporalCandidate p = predict_plan(s.layout, s.latency, s.temporal, local.candidate.reuse);
  EXPECT_NEAR(local.candidate.reuse_loss, p.reuse_loss, 1e-12 + 1e-9 * p.reuse_loss);
  EXPECT_NO_THROW(candidate_plan(local.candidate, s.spec, kCalls, "ddim").check(s.spec, kCalls));

  o.local_moves = false;
  const PlanRefineResult menu =
      refine_plan(s.layout, s.latency, s.menus, start, s.run_ms, start.predicted_ms, exact, o);
  ASSERT_EQ(menu.moves.size(), 1u);
  EXPECT_NE(menu.candidate.reuse, local.candidate.reuse);
  for (const auto& mm : s.menus)
    if (mm.unit == menu.moves[0].fewer || mm.unit == menu.moves[0].more) {
      const std::set<int> after = calls_of(menu.candidate, mm.unit);
      const auto& want = mm.calls[after.size()];
      EXPECT_EQ(after, std::set<int>(want.begin(), want.end())) << mm.unit;
    }
}

TEST(PlanRefine, StopsAtTheEvaluationLimit) {
  const Instance s;
  PlanRefineOptions o;
  o.max_evaluations = 3;
  o.per_round = 2;
  int scored = 0;
  const PlanRefineResult r = refine_plan(
      s.layout, s.latency, s.menus, s.start, s.run_ms, s.start.predicted_ms,
      [&](const std::vector<TemporalCandidate>& cs) {
        scored += int(cs.size());
        // Any change scores better: every batch improves, so only the limit stops it.
        std::vector<double> l;
        for (const auto& c : cs) l.push_back(c.reuse == s.start.reuse ? 1.0 : 1.0 / (2 + scored));
        return l;
      },
      o);
  EXPECT_EQ(r.evaluations, 3);
  EXPECT_EQ(scored, 3);
  EXPECT_FALSE(r.moves.empty());
}

TEST(PlanRefine, RefusesPlansItCannotDescribeAndBudgetsTheyMiss) {
  const Instance s;
  auto none = [](const std::vector<TemporalCandidate>& cs) {
    return std::vector<double>(cs.size(), 0.0);
  };
  // A unit without a menu (kept out of the search).
  std::string reused;
  for (const auto& call : s.start.reuse)
    if (!call.empty()) reused = call.front();
  ASSERT_FALSE(reused.empty());
  std::vector<ReuseMenu> fewer;
  for (const auto& m : s.menus)
    if (m.unit != reused) fewer.push_back(m);
  try {
    refine_plan(s.layout, s.latency, fewer, s.start, s.run_ms, s.start.predicted_ms, none);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(reused), std::string::npos) << e.what();
  }
  try {
    refine_plan(s.layout, s.latency, s.menus, s.start, s.run_ms, s.start.predicted_ms - 2, none);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("over the budget"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace asdm
