#include "pruner/temporal_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/temporal_record.h"
#include "core/error.h"
#include "model/unet_layout.h"
#include "pruner/latency_model.h"

namespace asdm {
namespace {

const double kInf = std::numeric_limits<double>::infinity();

// One-step cost of reusing at `call` a branch `gap` calls old; beyond the measured gaps,
// extrapolated from the longest by (gap / max)^2. Infinite where nothing was measured.
double cost_at(const TemporalUnit& u, int call, int gap) {
  double c = u.reuse_cost_at(call, gap);
  const int measured = static_cast<int>(u.change_sq.size());
  if (std::isnan(c) && gap > measured && measured > 0 && call >= gap)
    c = u.reuse_cost_at(call, measured) * double(gap) * gap / (double(measured) * measured);
  return std::isnan(c) ? kInf : c;
}

// Per number of reuses j (0..calls-1): the least loss and the calls reused, for one unit.
ReuseMenu best_plans(const TemporalUnit& u, int C, int G) {
  // f[c][g][j]: least loss after call c, the branch g calls old (0: computed at c), j reuses.
  const size_t J = static_cast<size_t>(C);
  auto at = [&](int c, int g, int j) { return (size_t(c) * (G + 1) + g) * J + j; };
  std::vector<double> f(size_t(C) * (G + 1) * J, kInf);
  std::vector<int> from_gap(f.size(), -1);  // for g = 0: the state's gap at call c - 1
  f[at(0, 0, 0)] = 0;
  for (int c = 1; c < C; ++c)
    for (int g = 0; g <= G; ++g)
      for (int j = 0; j < c; ++j) {
        const double v = f[at(c - 1, g, j)];
        if (v == kInf) continue;
        if (v < f[at(c, 0, j)]) {  // compute at c
          f[at(c, 0, j)] = v;
          from_gap[at(c, 0, j)] = g;
        }
        if (g + 1 <= G) {  // reuse at c
          const double cost = cost_at(u, c, g + 1);
          if (cost != kInf && v + cost < f[at(c, g + 1, j + 1)]) f[at(c, g + 1, j + 1)] = v + cost;
        }
      }
  ReuseMenu p;
  p.unit = u.id;
  p.cost_at.assign(J, std::vector<double>(size_t(G), kInf));
  for (int c = 1; c < C; ++c)
    for (int g = 1; g <= std::min(G, c); ++g) p.cost_at[c][g - 1] = cost_at(u, c, g);
  p.loss.assign(J, kInf);
  p.calls.assign(J, {});
  p.costs.assign(J, {});
  for (int j = 0; j < C; ++j) {
    int best_g = -1;
    for (int g = 0; g <= G; ++g)
      if (f[at(C - 1, g, j)] < p.loss[j]) {
        p.loss[j] = f[at(C - 1, g, j)];
        best_g = g;
      }
    if (best_g < 0) continue;
    int g = best_g, jj = j;
    for (int c = C - 1; c >= 1; --c) {
      if (g == 0) {
        g = from_gap[at(c, 0, jj)];
      } else {
        p.calls[j].push_back(c);
        p.costs[j].push_back(cost_at(u, c, g));
        --g;
        --jj;
      }
    }
    std::reverse(p.calls[j].begin(), p.calls[j].end());
    std::reverse(p.costs[j].begin(), p.costs[j].end());
  }
  return p;
}

struct Fill {
  double loss = kInf;
  std::vector<int> picks;  // j per item
};

// The least-loss choice of reuse counts per item saving at least need_ms.
Fill knapsack(const std::vector<ReuseMenu>& items, double need_ms, double bin_ms) {
  Fill best;
  const int need = std::max(0, static_cast<int>(std::ceil(need_ms / bin_ms - 1e-9)));
  std::vector<double> dp(need + 1, kInf);
  dp[0] = 0;
  std::vector<std::vector<int>> pick(items.size(), std::vector<int>(need + 1, -1)),
      from(items.size(), std::vector<int>(need + 1, -1));
  for (size_t i = 0; i < items.size(); ++i) {
    std::vector<double> next(need + 1, kInf);
    const ReuseMenu& it = items[i];
    for (int w = 0; w <= need; ++w) {
      if (dp[w] == kInf) continue;
      for (size_t j = 0; j < it.loss.size(); ++j) {
        if (it.loss[j] == kInf) continue;
        const int w2 = std::min(need, w + static_cast<int>(std::floor(j * it.ms / bin_ms)));
        const double v = dp[w] + it.loss[j];
        if (v < next[w2]) {
          next[w2] = v;
          pick[i][w2] = static_cast<int>(j);
          from[i][w2] = w;
        }
      }
    }
    dp.swap(next);
  }
  if (dp[need] == kInf) return best;
  best.loss = dp[need];
  best.picks.assign(items.size(), 0);
  int w = need;
  for (size_t i = items.size(); i-- > 0;) {
    best.picks[i] = pick[i][w];
    w = from[i][w];
  }
  return best;
}

}  // namespace

int ReuseMenu::max_reuses() const {
  int jmax = 0;
  for (size_t j = 0; j < loss.size(); ++j)
    if (loss[j] != kInf) jmax = int(j);
  return jmax;
}

std::vector<ReuseMenu> reuse_menus(const UNetLayout& layout, const LatencyModel& latency,
                                   const TemporalArtifact& temporal,
                                   const std::vector<std::string>& keep_list, int max_gap) {
  const int C = temporal.settings.calls;
  const int G = max_gap > 0 ? max_gap : temporal.settings.max_gap;
  const std::set<std::string> keep(keep_list.begin(), keep_list.end());
  for (const auto& id : keep) layout.at(id);  // unknown ids: an error naming the known ones
  std::vector<ReuseMenu> out;
  for (const auto& u : temporal.units) {
    layout.at(u.id);
    if (keep.count(u.id)) continue;
    out.push_back(best_plans(u, C, G));
    out.back().ms = latency.saved_ms(u.id);
  }
  return out;
}

TemporalCandidate predict_plan(const UNetLayout& layout, const LatencyModel& latency,
                               const TemporalArtifact& temporal,
                               const std::vector<std::vector<std::string>>& reuse) {
  const int C = temporal.settings.calls;
  if (int(reuse.size()) != C)
    fail("the plan covers {} model calls, temporal.json {}", reuse.size(), C);
  TemporalCandidate p;
  p.reuse = reuse;
  const double run_ms = C * latency.teacher_ms();
  double saved = 0;
  std::map<std::string, int> last;  // the call that last computed each unit
  for (int c = 0; c < C; ++c) {
    std::set<std::string> here(reuse[c].begin(), reuse[c].end());
    for (const auto& id : here) {
      layout.at(id);
      const TemporalUnit& u = temporal.unit(id);
      const int gap = c - (last.count(id) ? last[id] : 0);
      p.reuse_loss += cost_at(u, c, gap);
      saved += latency.saved_ms(id);
      ++p.reuses;
    }
    for (const auto& u : temporal.units)
      if (!here.count(u.id)) last[u.id] = c;
  }
  p.predicted_ms = run_ms - saved;
  p.predicted_speedup = 1 - p.predicted_ms / run_ms;
  return p;
}

TemporalSearchResult temporal_search(const UNetLayout& layout, const LatencyModel& latency,
                                     const TemporalArtifact& temporal,
                                     const std::map<std::string, double>& removal_scores,
                                     const TemporalSearchOptions& o) {
  const int C = temporal.settings.calls;
  const int G = o.max_gap > 0 ? o.max_gap : temporal.settings.max_gap;
  if (!temporal.complete && temporal.prompts_done == 0)
    fail("temporal.json has no tier-1 results (asdm ablate --temporal --tier 1 or both)");
  if (o.removals && removal_scores.empty())
    fail("removals need importance scores (asdm ablate's importance.json)");
  if (o.target_speedup <= 0 || o.target_speedup >= 1)
    fail("the target speed-up must be in (0, 1) (got {})", o.target_speedup);
  TemporalSearchResult r;
  r.calls = C;
  r.teacher_ms = C * latency.teacher_ms();
  const double bin_ms = r.teacher_ms / std::max(1, o.bins);

  const std::vector<ReuseMenu> all = reuse_menus(layout, latency, temporal, o.keep, G);

  // Removal sets: none, and the removal search's sets along its front.
  std::vector<std::vector<std::string>> removal_sets{{}};
  if (o.removals) {
    SearchOptions so = o.removal;
    so.keep.insert(so.keep.end(), o.keep.begin(), o.keep.end());
    so.max_candidates = 1;
    // The removal front's points (at most kMaxRemovalSets of them, spread over its speed-ups),
    // each the least-loss set at its speed-up.
    constexpr size_t kMaxRemovalSets = 64;
    so.target_speedup = 1e-9;
    std::vector<ParetoPoint> front;
    try {
      front = search(layout, latency, removal_scores, so).front;
    } catch (const Error&) {
      // nothing removable under the constraints
    }
    const size_t stride =
        std::max<size_t>(1, (front.size() + kMaxRemovalSets - 1) / kMaxRemovalSets);
    for (size_t i = 0; i < front.size(); i += stride) {
      // A bin below the point: its set, not one past it through the search's rounding.
      so.target_speedup = front[i].speedup - 1.0 / std::max(1, so.bins);
      if (!(so.target_speedup > 0)) continue;
      try {
        const SearchResult sr = search(layout, latency, removal_scores, so);
        if (!sr.candidates.empty() && std::find(removal_sets.begin(), removal_sets.end(),
                                                sr.candidates[0].removed) == removal_sets.end())
          removal_sets.push_back(sr.candidates[0].removed);
      } catch (const Error&) {
        // a front point the discretised search cannot meet exactly
      }
    }
  }

  struct Option {
    const std::vector<std::string>* removed;
    std::vector<const ReuseMenu*> items;
    double removal_loss, forward_ms, max_saved_ms;
  };
  std::vector<Option> options;
  for (const auto& set : removal_sets) {
    Option op{&set, {}, 0, latency.predict_ms(set), 0};
    const std::set<std::string> gone(set.begin(), set.end());
    for (const auto& id : set) op.removal_loss += C * removal_scores.at(id);
    for (const auto& it : all) {
      // A unit nested in a removed one, or removed itself, has nothing left to reuse.
      const std::string& parent = layout.at(it.unit).parent;
      if (gone.count(it.unit) || (!parent.empty() && gone.count(parent))) continue;
      op.items.push_back(&it);
      op.max_saved_ms += it.max_reuses() * it.ms;
    }
    const double best = 1 - (C * op.forward_ms - op.max_saved_ms) / r.teacher_ms;
    r.best_reachable_speedup = std::max(r.best_reachable_speedup, best);
    options.push_back(std::move(op));
  }
  if (o.target_speedup > r.best_reachable_speedup)
    fail(
        "a {:.1f}% speed-up of the sampling run is out of reach: the best is {:.1f}% ({}; max gap "
        "{})",
        100 * o.target_speedup, 100 * r.best_reachable_speedup,
        o.removals ? "removals and reuses" : "every unit reused wherever allowed", G);

  for (int i = 0; i < std::max(1, o.max_candidates); ++i) {
    const double target = o.target_speedup + i * o.candidate_step;
    if (target > r.best_reachable_speedup + 1e-12) break;
    const double budget_ms = (1 - target) * r.teacher_ms;
    TemporalCandidate best;
    double best_loss = kInf;
    for (const auto& op : options) {
      const double need = C * op.forward_ms - budget_ms;
      std::vector<ReuseMenu> items;
      for (const ReuseMenu* it : op.items) items.push_back(*it);
      const Fill fill = knapsack(items, std::max(0.0, need), bin_ms);
      if (fill.loss == kInf || op.removal_loss + fill.loss >= best_loss) continue;
      best_loss = op.removal_loss + fill.loss;
      TemporalCandidate c;
      c.removed = *op.removed;
      c.reuse.assign(C, {});
      double saved = 0;
      for (size_t k = 0; k < items.size(); ++k) {
        const int j = fill.picks[k];
        for (int call : items[k].calls[j]) c.reuse[call].push_back(items[k].unit);
        saved += j * items[k].ms;
        c.reuses += j;
      }
      c.removal_loss = op.removal_loss;
      c.reuse_loss = fill.loss;
      c.predicted_ms = C * op.forward_ms - saved;
      c.predicted_speedup = 1 - c.predicted_ms / r.teacher_ms;
      best = c;
    }
    if (best_loss == kInf) continue;
    // Items are in forward order (temporal.json's), so each call's units are too.
    if (!r.candidates.empty() && r.candidates.back().reuse == best.reuse &&
        r.candidates.back().removed == best.removed)
      continue;
    best.name = fmt::format("p{}", r.candidates.size() + 1);
    r.candidates.push_back(best);
  }
  if (r.candidates.empty())
    fail("no plan meets a {:.1f}% speed-up at this time resolution (more --bins?)",
         100 * o.target_speedup);
  return r;
}

ArchSpec candidate_arch(const TemporalCandidate& c, const ArchSpec& teacher) {
  ArchSpec a = teacher;
  for (const auto& id : c.removed) a.edits.push_back(Edit::remove(id));
  return a;
}

CachePlan candidate_plan(const TemporalCandidate& c, const ArchSpec& teacher, int steps,
                         const std::string& sampler) {
  CachePlan p;
  p.model = candidate_arch(c, teacher);
  p.calls = static_cast<int>(c.reuse.size());
  p.reuse = c.reuse;
  p.policy = fmt::format(
      "searched ({} {} steps): {} reuses{}, predicted {:.1f}% faster, loss {:.4g}", sampler, steps,
      c.reuses, c.removed.empty() ? "" : fmt::format(" and {} removals", c.removed.size()),
      100 * c.predicted_speedup, c.predicted_loss());
  if (!c.name.empty()) p.policy = c.name + ": " + p.policy;
  return p;
}

namespace {
nlohmann::json candidate_json(const TemporalCandidate& c) {
  std::set<std::string> units;
  for (const auto& call : c.reuse) units.insert(call.begin(), call.end());
  return {
      {"name", c.name},
      {"plan", c.name + ".plan.json"},
      {"arch", c.removed.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.name + ".arch.json")},
      {"removed", c.removed},
      {"reused_units", std::vector<std::string>(units.begin(), units.end())},
      {"reuses", c.reuses},
      {"predicted_ms", c.predicted_ms},
      {"predicted_speedup", c.predicted_speedup},
      {"removal_loss", c.removal_loss},
      {"reuse_loss", c.reuse_loss},
      {"predicted_loss", c.predicted_loss()},
      {"grouped_loss",
       std::isnan(c.grouped_loss) ? nlohmann::json(nullptr) : nlohmann::json(c.grouped_loss)},
      {"refined_from",
       c.refined_from.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.refined_from)}};
}
}  // namespace

nlohmann::json temporal_search_json(const TemporalSearchResult& r,
                                    const std::vector<TemporalCandidate>& baselines,
                                    const TemporalSearchOptions& o) {
  nlohmann::json cs = nlohmann::json::array(), bs = nlohmann::json::array();
  for (const auto& c : r.candidates) cs.push_back(candidate_json(c));
  for (const auto& c : baselines) bs.push_back(candidate_json(c));
  return {{"calls", r.calls},
          {"teacher_ms", r.teacher_ms},
          {"target_speedup", o.target_speedup},
          {"max_gap", o.max_gap},
          {"removals", o.removals},
          {"keep", o.keep},
          {"best_reachable_speedup", r.best_reachable_speedup},
          {"loss",
           "sum over the run's model calls of epsilon's normalised MSE against the teacher's: "
           "removals calls x tier-1 score, reuses temporal.json's one-step costs"},
          {"candidates", cs},
          {"baselines", bs}};
}

std::string temporal_search_table(const TemporalSearchResult& r,
                                  const std::vector<TemporalCandidate>& baselines) {
  std::string out = fmt::format(
      "the model without a plan: {} calls, {:.2f} ms per sampling run (predicted from the "
      "profile)\n",
      r.calls, r.teacher_ms);
  bool grouped = false;
  for (const auto* list : {&r.candidates, &baselines})
    for (const auto& c : *list) grouped = grouped || !std::isnan(c.grouped_loss);
  out += fmt::format("{:<22} {:>9} {:>10} {:>7} {:>8} {:>11} {:>11}{}\n", "plan", "speed-up",
                     "run ms", "reuses", "removed", "reuse loss", "total loss",
                     grouped ? fmt::format(" {:>12}", "grouped loss") : "");
  auto loss = [](double v) { return std::isnan(v) ? std::string("-") : fmt::format("{:.4g}", v); };
  auto row = [&](const TemporalCandidate& c) {
    out += fmt::format("{:<22} {:>8.1f}% {:>10.2f} {:>7} {:>8} {:>11} {:>11}{}\n", c.name,
                       100 * c.predicted_speedup, c.predicted_ms, c.reuses, c.removed.size(),
                       loss(c.reuse_loss), loss(c.predicted_loss()),
                       grouped ? fmt::format(" {:>12}", loss(c.grouped_loss)) : "");
  };
  for (const auto& c : r.candidates) row(c);
  if (!baselines.empty()) {
    out += grouped ? "baselines (DeepCache's uniform policy; the skip-branch form has no additive "
                     "loss):\n"
                   : "baselines (DeepCache's uniform policy; the skip-branch form's loss is not "
                     "predicted):\n";
    for (const auto& c : baselines) row(c);
  }
  return out;
}

}  // namespace asdm
