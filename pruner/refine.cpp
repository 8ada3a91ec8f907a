#include "pruner/refine.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "model/unet_layout.h"
#include "pruner/latency_model.h"

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
    };
    std::vector<Swap> swaps;
    for (const auto& out : current) {
      if (!listed(movable, out)) continue;
      for (const auto& in : movable) {
        if (current.count(in)) continue;
        std::set<std::string> next = current;
        next.erase(out);
        next.insert(in);
        if (feasible(next)) swaps.push_back({out, in, scores.at(in) - scores.at(out)});
      }
    }
    std::stable_sort(swaps.begin(), swaps.end(),
                     [](const Swap& a, const Swap& b) { return a.additive < b.additive; });
    const Swap* best = nullptr;
    double best_loss = r.loss;
    // Batches of untried swaps, in order, until one improves or the budget is spent; swaps whose
    // set is already scored count at once.
    size_t at = 0;
    while (at < swaps.size() && !best) {
      std::vector<size_t> batch;
      std::vector<std::vector<std::string>> sets;
      size_t scan = at;
      for (; scan < swaps.size(); ++scan) {
        std::set<std::string> next = current;
        next.erase(swaps[scan].out);
        next.insert(swaps[scan].in);
        const auto key = ordered(next);
        if (!cache.count(key)) {
          if (int(sets.size()) >= std::min(ro.per_round, ro.max_evaluations - r.evaluations)) break;
          sets.push_back(key);
        }
        batch.push_back(scan);
      }
      if (batch.empty()) break;  // the evaluation budget is spent
      evaluate(sets);
      for (size_t i : batch) {
        std::set<std::string> next = current;
        next.erase(swaps[i].out);
        next.insert(swaps[i].in);
        const double l = cache.at(ordered(next));
        if (l < best_loss) {
          best_loss = l;
          best = &swaps[i];
        }
      }
      at = scan;
    }
    if (!best) break;
    current.erase(best->out);
    current.insert(best->in);
    r.loss = best_loss;
    r.steps.push_back({best->out, best->in, best_loss});
  }
  r.removed = ordered(current);
  return r;
}

}  // namespace asdm
