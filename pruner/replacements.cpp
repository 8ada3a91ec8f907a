#include "pruner/replacements.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "model/unet_layout.h"
#include "profiler/cost_model.h"

namespace asdm {

std::vector<Edit> clme_edits(const ArchSpec& spec) {
  const UNetLayout layout = spec.student_layout();
  const auto removed = spec.removed_units();
  std::vector<const BlockInfo*> blocks;
  for (const auto& b : layout.down) blocks.push_back(&b);
  if (layout.mid) blocks.push_back(&*layout.mid);
  for (const auto& b : layout.up) blocks.push_back(&b);
  std::vector<Edit> out;
  for (const BlockInfo* b : blocks) {
    std::vector<const UnitInfo*> kept, gone;
    for (int i : b->resnets)
      (removed.count(layout.units[i].id) ? gone : kept).push_back(&layout.units[i]);
    if (kept.empty() || gone.empty()) continue;
    std::map<int, std::vector<std::string>> experts;  // kept layer -> removed siblings
    for (const UnitInfo* g : gone) {
      const UnitInfo* best = kept.front();
      for (const UnitInfo* k : kept)
        if (std::abs(k->layer - g->layer) < std::abs(best->layer - g->layer)) best = k;
      experts[best->layer].push_back(g->id);
    }
    for (const UnitInfo* k : kept)
      if (experts.count(k->layer)) out.push_back(Edit::clme(k->id, experts[k->layer]));
  }
  return out;
}

std::vector<Edit> gri_edits(const ArchSpec& spec, const InputShape& input, int window, int pool,
                            int min_tokens) {
  const auto removed = spec.removed_units();
  std::set<std::string> already;
  for (const auto& e : spec.edits)
    if (e.op == Edit::Op::kGri) already.insert(e.unit);
  const CostReport cost = estimate_cost(spec.student_layout(), removed, input);
  const UNetLayout layout = spec.student_layout();
  std::vector<Edit> out;
  for (const auto& uc : cost.units) {
    const UnitInfo& u = layout.at(uc.id);
    if (u.kind != UnitKind::kAttention || u.only_cross_attention || removed.count(u.id) ||
        already.count(u.id))
      continue;
    const int h = uc.height, w = uc.width;
    if (int64_t(h) * w < min_tokens) continue;
    if (h % std::min(window, h) || w % std::min(window, w) || (pool > 0 && (h % pool || w % pool)))
      continue;
    out.push_back(Edit::gri(u.id, window, pool));
  }
  return out;
}

}  // namespace asdm
