#include "pruner/plan_refine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "core/error.h"
#include "model/unet_layout.h"
#include "pruner/latency_model.h"
#include "pruner/local_search.h"

namespace asdm {
namespace {

const double kInf = std::numeric_limits<double>::infinity();

// A plan as the reuses of each unit that has a menu: its count, its calls and their one-step costs.
struct State {
  std::vector<int> count;
  std::vector<std::vector<int>> calls;
  std::vector<std::vector<double>> costs;
  bool operator<(const State& o) const { return calls < o.calls; }
};

// The interaction prior: the errors of units reused at one call add up as vectors with a common
// correlation rho, so a plan's grouped loss is about its additive loss plus rho times
// cross(plan) = sum over calls of (sum_u sqrt(cost_u))^2 - sum_u cost_u. rho is fitted to the
// last plan scored, and moves are tried in the order of their change under this model.
double cross(const State& s, int calls) {
  std::vector<double> root(size_t(calls), 0.0), sum(size_t(calls), 0.0);
  for (size_t i = 0; i < s.calls.size(); ++i)
    for (size_t k = 0; k < s.calls[i].size(); ++k) {
      root[size_t(s.calls[i][k])] += std::sqrt(std::max(0.0, s.costs[i][k]));
      sum[size_t(s.calls[i][k])] += s.costs[i][k];
    }
  double x = 0;
  for (int c = 0; c < calls; ++c) x += root[size_t(c)] * root[size_t(c)] - sum[size_t(c)];
  return x;
}

// The one-step costs of reusing a unit at `calls` (ascending), computed at every other call: each
// reuse's branch is as old as the run of reuses it ends. Empty when the pattern is not allowed (a
// reuse at call 0, a run longer than the menu's max gap, an unmeasured cost).
std::optional<std::vector<double>> pattern_costs(const ReuseMenu& m,
                                                 const std::vector<int>& calls) {
  std::vector<double> out;
  int gap = 0, prev = -2;
  for (int c : calls) {
    gap = c == prev + 1 ? gap + 1 : 1;
    prev = c;
    if (c <= 0 || size_t(c) >= m.cost_at.size() || size_t(gap) > m.cost_at[size_t(c)].size())
      return std::nullopt;
    const double v = m.cost_at[size_t(c)][size_t(gap) - 1];
    if (v == kInf) return std::nullopt;
    out.push_back(v);
  }
  return out;
}

double total(const std::vector<double>& v) {
  double t = 0;
  for (double x : v) t += x;
  return t;
}

// A unit's pattern with `n` reuses fewer: each time the one whose removal lowers its loss most.
// Dropping a reuse is always allowed (the next ones get fresher branches).
std::pair<std::vector<int>, std::vector<double>> drop_reuses(const ReuseMenu& m,
                                                             std::vector<int> calls, int n) {
  for (int k = 0; k < n && !calls.empty(); ++k) {
    size_t best = 0;
    double best_loss = kInf;
    for (size_t i = 0; i < calls.size(); ++i) {
      std::vector<int> c = calls;
      c.erase(c.begin() + std::ptrdiff_t(i));
      const auto costs = pattern_costs(m, c);
      if (costs && total(*costs) < best_loss) {
        best_loss = total(*costs);
        best = i;
      }
    }
    calls.erase(calls.begin() + std::ptrdiff_t(best));
  }
  return {calls, pattern_costs(m, calls).value_or(std::vector<double>{})};
}

// A unit's pattern with `n` more reuses, each time the allowed call that adds the least loss;
// nothing when fewer than n can be added.
std::optional<std::pair<std::vector<int>, std::vector<double>>> add_reuses(const ReuseMenu& m,
                                                                           std::vector<int> calls,
                                                                           int n) {
  const int C = static_cast<int>(m.cost_at.size());
  for (int k = 0; k < n; ++k) {
    std::vector<int> best;
    double best_loss = kInf;
    for (int c = 1; c < C; ++c) {
      if (std::binary_search(calls.begin(), calls.end(), c)) continue;
      std::vector<int> next = calls;
      next.insert(std::upper_bound(next.begin(), next.end(), c), c);
      const auto costs = pattern_costs(m, next);
      if (costs && total(*costs) < best_loss) {
        best_loss = total(*costs);
        best = std::move(next);
      }
    }
    if (best.empty()) return std::nullopt;
    calls = std::move(best);
  }
  return std::make_pair(calls, *pattern_costs(m, calls));
}

}  // namespace

PlanRefineResult refine_plan(const UNetLayout& layout, const LatencyModel& latency,
                             const std::vector<ReuseMenu>& menus, const TemporalCandidate& start,
                             double run_ms, double budget_ms, const CandidateLosses& losses,
                             const PlanRefineOptions& o) {
  const int C = static_cast<int>(start.reuse.size());
  const std::set<std::string> gone(start.removed.begin(), start.removed.end());
  // The menus a move may use: units neither removed nor inside a removed unit.
  std::vector<const ReuseMenu*> items;
  std::map<std::string, size_t> index;
  for (const auto& m : menus) {
    const std::string& parent = layout.at(m.unit).parent;
    if (gone.count(m.unit) || (!parent.empty() && gone.count(parent))) continue;
    index[m.unit] = items.size();
    items.push_back(&m);
  }
  State current{std::vector<int>(items.size(), 0), std::vector<std::vector<int>>(items.size()),
                std::vector<std::vector<double>>(items.size())};
  for (int c = 0; c < C; ++c)
    for (const auto& id : start.reuse[c]) {
      if (!index.count(id)) fail("the plan reuses {}, which the search has no reuse menu for", id);
      const size_t i = index.at(id);
      ++current.count[i];
      current.calls[i].push_back(c);
    }
  // Per-call costs from the menu where the start took its calls from it, else of its own pattern
  // (else the menu's mean).
  for (size_t i = 0; i < items.size(); ++i) {
    const ReuseMenu& m = *items[i];
    const int j = current.count[i];
    const auto own = pattern_costs(m, current.calls[i]);
    current.costs[i] = size_t(j) < m.costs.size() && m.calls[j] == current.calls[i] &&
                               m.costs[j].size() == size_t(j)
                           ? m.costs[j]
                       : own ? *own
                             : std::vector<double>(size_t(j), j > 0 ? m.loss[j] / j : 0.0);
  }
  // A unit's additive loss: its menu's where it has the menu's calls, else its pattern's.
  auto unit_loss = [&](const State& s, size_t i) {
    const ReuseMenu& m = *items[i];
    const int j = s.count[i];
    return m.calls[size_t(j)] == s.calls[i] ? m.loss[size_t(j)] : total(s.costs[i]);
  };
  const double forward_ms = C * latency.predict_ms(start.removed);
  auto predicted_ms = [&](const State& s) {
    double saved = 0;
    for (size_t i = 0; i < items.size(); ++i) saved += s.count[i] * items[i]->ms;
    return forward_ms - saved;
  };
  const double slack = 1e-9 * std::max(1.0, budget_ms);
  if (predicted_ms(current) > budget_ms + slack)
    fail("the plan to refine takes {:.3f} ms, over the budget of {:.3f} ms", predicted_ms(current),
         budget_ms);
  auto candidate = [&](const State& s) {
    TemporalCandidate c = start;
    c.reuse.assign(C, {});
    c.reuses = 0;
    c.reuse_loss = 0;
    // Menus are in temporal.json's (forward) order, so each call's units are too.
    for (size_t i = 0; i < items.size(); ++i) {
      for (int call : s.calls[i]) c.reuse[call].push_back(items[i]->unit);
      c.reuses += s.count[i];
      c.reuse_loss += unit_loss(s, i);
    }
    c.predicted_ms = predicted_ms(s);
    c.predicted_speedup = 1 - c.predicted_ms / run_ms;
    return c;
  };

  PlanRefineResult r;
  std::map<State, double> cache;
  auto evaluate = [&](const std::vector<State>& states) {
    std::vector<State> fresh;
    std::vector<TemporalCandidate> cands;
    for (const auto& s : states)
      if (!cache.count(s) && std::none_of(fresh.begin(), fresh.end(),
                                          [&](const State& f) { return !(f < s || s < f); })) {
        fresh.push_back(s);
        cands.push_back(candidate(s));
      }
    if (fresh.empty()) return;
    const std::vector<double> l = losses(cands);
    ASDM_CHECK(l.size() == fresh.size(), "{} losses for {} plans", l.size(), fresh.size());
    for (size_t i = 0; i < fresh.size(); ++i) cache[fresh[i]] = l[i];
    r.evaluations += int(fresh.size());
  };
  evaluate({current});
  r.start_loss = r.loss = cache.at(current);
  const double shift_ms = o.move_fraction * run_ms;
  auto additive = [&](const State& s) {
    double a = 0;
    for (size_t i = 0; i < items.size(); ++i) a += unit_loss(s, i);
    return a;
  };
  auto fit_rho = [&](const State& s, double grouped) {
    const double x = cross(s, C);
    return o.interaction_prior && x > 0 ? std::max(0.0, (grouped - additive(s)) / x) : 0.0;
  };
  double rho = fit_rho(current, r.loss);

  while (r.evaluations < o.max_evaluations) {
    struct Move {
      size_t fewer, more;
      State next;
      double change;  // additive, plus the interaction prior's
    };
    std::vector<Move> moves;
    const double cross_now = rho > 0 ? cross(current, C) : 0.0;
    for (size_t u = 0; u < items.size(); ++u) {
      const ReuseMenu& mu = *items[u];
      if (current.count[u] == 0 || mu.ms <= 0) continue;
      const int d = std::max(1, static_cast<int>(std::ceil(shift_ms / mu.ms - 1e-9)));
      const int ju = std::max(0, current.count[u] - d);
      if (o.local_moves ? !pattern_costs(mu, current.calls[u]) : mu.loss[ju] == kInf) continue;
      State base = current;
      base.count[u] = ju;
      if (o.local_moves) {
        std::tie(base.calls[u], base.costs[u]) =
            drop_reuses(mu, current.calls[u], current.count[u] - ju);
      } else {
        base.calls[u] = mu.calls[ju];
        base.costs[u] = mu.costs[ju];
      }
      const double over = predicted_ms(base) - budget_ms;  // > 0: time another unit must save
      for (size_t v = 0; v < items.size(); ++v) {
        const ReuseMenu& mv = *items[v];
        if (v == u || mv.ms <= 0) continue;
        const int need = std::max(1, static_cast<int>(std::ceil(over / mv.ms - 1e-9)));
        const int jv = current.count[v] + need;
        State next = base;
        next.count[v] = jv;
        if (o.local_moves) {
          auto added = add_reuses(mv, current.calls[v], need);
          if (!added) continue;
          std::tie(next.calls[v], next.costs[v]) = std::move(*added);
        } else {
          if (jv > mv.max_reuses() || mv.loss[jv] == kInf) continue;
          next.calls[v] = mv.calls[jv];
          next.costs[v] = mv.costs[jv];
        }
        if (predicted_ms(next) > budget_ms + slack) continue;
        const double change = unit_loss(next, u) + unit_loss(next, v) - unit_loss(current, u) -
                              unit_loss(current, v) +
                              (rho > 0 ? rho * (cross(next, C) - cross_now) : 0.0);
        moves.push_back({u, v, std::move(next), change});
      }
    }
    std::stable_sort(moves.begin(), moves.end(),
                     [](const Move& a, const Move& b) { return a.change < b.change; });
    double best_loss = r.loss;
    const std::ptrdiff_t found = first_improving(
        moves.size(), [&](size_t i) -> const State& { return moves[i].next; }, cache, o.per_round,
        [&] { return o.max_evaluations - r.evaluations; }, evaluate, best_loss);
    if (found < 0) break;
    const Move* best = &moves[size_t(found)];
    current = best->next;
    r.loss = best_loss;
    rho = fit_rho(current, r.loss);
    r.moves.push_back({items[best->fewer]->unit, items[best->more]->unit,
                       current.count[best->fewer], current.count[best->more], best_loss});
  }
  r.candidate = candidate(current);
  return r;
}

}  // namespace asdm
