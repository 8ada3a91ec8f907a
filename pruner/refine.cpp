#include "pruner/refine.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "model/unet_layout.h"
#include "pruner/latency_model.h"
#include "pruner/local_search.h"

namespace asdm {

RefineResult refine(const UNetLayout& layout, const LatencyModel& latency,
                    const std::map<std::string, double>& scores, const SearchOptions& o,
                    const std::vector<std::string>& start, double budget_ms,
                    const std::function<double(const std::vector<std::string>&)>& grouped_loss,
                    const RefineOptions& ro) {
  return refine(
      layout, latency, scores, o, start, budget_ms,
      [&](const std::vector<std::vector<std::string>>& sets) {
        std::vector<double> out;
        for (const auto& s : sets) out.push_back(grouped_loss(s));
        return out;
      },
      ro);
}

RefineResult refine(const UNetLayout& layout, const LatencyModel& latency,
                    const std::map<std::string, double>& scores, const SearchOptions& o,
                    const std::vector<std::string>& start, double budget_ms,
                    const GroupedLosses& grouped_losses, const RefineOptions& ro) {
  auto listed = [](const std::vector<std::string>& list, const std::string& id) {
    return std::find(list.begin(), list.end(), id) != list.end();
  };
  // Units a swap may move: searched ones (top level, scored), neither kept nor forced.
  std::vector<std::string> movable;
  for (const auto& u : layout.units)
    if (u.removable() && u.parent.empty() && scores.count(u.id) && !listed(o.keep, u.id) &&
        !listed(o.remove, u.id))
      movable.push_back(u.id);
  std::vector<const BlockInfo*> blocks;
  for (const auto& b : layout.down) blocks.push_back(&b);
  if (layout.mid) blocks.push_back(&*layout.mid);
  for (const auto& b : layout.up) blocks.push_back(&b);
  auto feasible = [&](const std::set<std::string>& s) {
    if (latency.predict_ms({s.begin(), s.end()}) > budget_ms) return false;
    if (!o.keep_cross_attention) return true;
    for (const BlockInfo* b : blocks) {
      if (!b->cross_attention || b->attentions.empty()) continue;
      bool kept = false;
      for (int i : b->attentions) kept = kept || !s.count(layout.units[i].id);
      if (!kept) return false;
    }
    return true;
  };
  auto ordered = [&](const std::set<std::string>& s) {
    std::vector<std::string> out;
    for (const auto& u : layout.units)
      if (s.count(u.id)) out.push_back(u.id);
    return out;
  };

  RefineResult r;
  std::set<std::string> current(start.begin(), start.end());
  std::map<std::vector<std::string>, double> cache;
  // Scores the sets not in the cache, together.
  auto evaluate = [&](const std::vector<std::vector<std::string>>& sets) {
    std::vector<std::vector<std::string>> fresh;
    for (const auto& k : sets)
      if (!cache.count(k) && std::find(fresh.begin(), fresh.end(), k) == fresh.end())
        fresh.push_back(k);
    if (fresh.empty()) return;
    const std::vector<double> losses = grouped_losses(fresh);
    ASDM_CHECK(losses.size() == fresh.size(), "{} losses for {} sets", losses.size(), fresh.size());
    for (size_t i = 0; i < fresh.size(); ++i) cache[fresh[i]] = losses[i];
    r.evaluations += int(fresh.size());
  };
  evaluate({ordered(current)});
  r.start_loss = r.loss = cache.at(ordered(current));
  while (r.evaluations < ro.max_evaluations) {
    struct Swap {
      std::string out, in;
      double additive;
      std::vector<std::string> removed;  // the set after the swap, forward order
    };
    std::vector<Swap> swaps;
    for (const auto& out : current) {
      if (!listed(movable, out)) continue;
      for (const auto& in : movable) {
        if (current.count(in)) continue;
        std::set<std::string> next = current;
        next.erase(out);
        next.insert(in);
        if (feasible(next))
          swaps.push_back({out, in, scores.at(in) - scores.at(out), ordered(next)});
      }
    }
    std::stable_sort(swaps.begin(), swaps.end(),
                     [](const Swap& a, const Swap& b) { return a.additive < b.additive; });
    // Batches of untried swaps, in order, until one improves or the budget is spent.
    double best_loss = r.loss;
    const std::ptrdiff_t found = first_improving(
        swaps.size(), [&](size_t i) -> const std::vector<std::string>& { return swaps[i].removed; },
        cache, ro.per_round, [&] { return ro.max_evaluations - r.evaluations; }, evaluate,
        best_loss);
    if (found < 0) break;
    const Swap* best = &swaps[size_t(found)];
    current.erase(best->out);
    current.insert(best->in);
    r.loss = best_loss;
    r.steps.push_back({best->out, best->in, best_loss});
  }
  r.removed = ordered(current);
  return r;
}

}  // namespace asdm
