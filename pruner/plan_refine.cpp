#include "pruner/plan_refine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "core/error.h"
#include "model/unet_layout.h"
#include "pruner/latency_model.h"

namespace asdm {
namespace {

const double kInf = std::numeric_limits<double>::infinity();

// A plan as the reuses of each unit that has a menu: its count and its calls.
struct State {
  std::vector<int> count;
  std::vector<std::vector<int>> calls;
  bool operator<(const State& o) const { return calls < o.calls; }
};

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
  State current{std::vector<int>(items.size(), 0), std::vector<std::vector<int>>(items.size())};
  for (int c = 0; c < C; ++c)
    for (const auto& id : start.reuse[c]) {
      if (!index.count(id)) fail("the plan reuses {}, which the search has no reuse menu for", id);
      const size_t i = index.at(id);
      ++current.count[i];
      current.calls[i].push_back(c);
    }
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
      c.reuse_loss += items[i]->loss[s.count[i]];
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

  while (r.evaluations < o.max_evaluations) {
    struct Move {
      size_t fewer, more;
      State next;
      double additive;
    };
    std::vector<Move> moves;
    for (size_t u = 0; u < items.size(); ++u) {
      const ReuseMenu& mu = *items[u];
      if (current.count[u] == 0 || mu.ms <= 0) continue;
      const int d = std::max(1, static_cast<int>(std::ceil(shift_ms / mu.ms - 1e-9)));
      const int ju = std::max(0, current.count[u] - d);
      if (mu.loss[ju] == kInf) continue;
      State base = current;
      base.count[u] = ju;
      base.calls[u] = mu.calls[ju];
      const double over = predicted_ms(base) - budget_ms;  // > 0: time another unit must save
      for (size_t v = 0; v < items.size(); ++v) {
        const ReuseMenu& mv = *items[v];
        if (v == u || mv.ms <= 0) continue;
        const int need = std::max(1, static_cast<int>(std::ceil(over / mv.ms - 1e-9)));
        const int jv = current.count[v] + need;
        if (jv > mv.max_reuses() || mv.loss[jv] == kInf) continue;
        State next = base;
        next.count[v] = jv;
        next.calls[v] = mv.calls[jv];
        if (predicted_ms(next) > budget_ms + slack) continue;
        const double additive =
            mu.loss[ju] + mv.loss[jv] - mu.loss[current.count[u]] - mv.loss[current.count[v]];
        moves.push_back({u, v, std::move(next), additive});
      }
    }
    std::stable_sort(moves.begin(), moves.end(),
                     [](const Move& a, const Move& b) { return a.additive < b.additive; });
    const Move* best = nullptr;
    double best_loss = r.loss;
    size_t at = 0;
    while (at < moves.size() && !best) {
      std::vector<size_t> batch;
      std::vector<State> states;
      size_t scan = at;
      for (; scan < moves.size(); ++scan) {
        if (!cache.count(moves[scan].next)) {
          if (int(states.size()) >= std::min(o.per_round, o.max_evaluations - r.evaluations)) break;
          states.push_back(moves[scan].next);
        }
        batch.push_back(scan);
      }
      if (batch.empty()) break;  // the evaluation budget is spent
      evaluate(states);
      for (size_t i : batch) {
        const double l = cache.at(moves[i].next);
        if (l < best_loss) {
          best_loss = l;
          best = &moves[i];
        }
      }
      at = scan;
    }
    if (!best) break;
    current = best->next;
    r.loss = best_loss;
    r.moves.push_back({items[best->fewer]->unit, items[best->more]->unit,
                       current.count[best->fewer], current.count[best->more], best_loss});
  }
  r.candidate = candidate(current);
  return r;
}

}  // namespace asdm
