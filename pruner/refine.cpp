#include "pruner/refine.h"

#include <algorithm>
#include <set>

#include "model/unet_layout.h"
#include "pruner/latency_model.h"

namespace asdm {

RefineResult refine(const UNetLayout& layout, const LatencyModel& latency,
                    const std::map<std::string, double>& scores, const SearchOptions& o,
                    const std::vector<std::string>& start, double budget_ms,
                    const std::function<double(const std::vector<std::string>&)>& grouped_loss,
                    const RefineOptions& ro) {
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
  auto evaluate = [&](const std::set<std::string>& s) {
    const auto key = ordered(s);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
    ++r.evaluations;
    return cache[key] = grouped_loss(key);
  };
  r.start_loss = r.loss = evaluate(current);
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
    int tried = 0;
    for (const auto& s : swaps) {
      // Scores at least per_round swaps, and more until one improves or the budget is spent.
      if ((tried >= ro.per_round && best) || r.evaluations >= ro.max_evaluations) break;
      std::set<std::string> next = current;
      next.erase(s.out);
      next.insert(s.in);
      const bool fresh = !cache.count(ordered(next));
      const double l = evaluate(next);
      tried += fresh;
      if (l < best_loss) {
        best_loss = l;
        best = &s;
      }
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
