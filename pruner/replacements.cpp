#include "pruner/replacements.h"

#include <cstdlib>
#include <map>

#include "model/unet_layout.h"

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
    for (int i : b->resnets) (removed.count(layout.units[i].id) ? gone : kept).push_back(&layout.units[i]);
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

}  // namespace asdm
