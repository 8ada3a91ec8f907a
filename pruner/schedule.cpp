#include "pruner/schedule.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/unit_id.h"

namespace asdm {

nlohmann::json make_schedule(const ArchSpec& student, const std::map<std::string, double>& scores,
                             const ScheduleOptions& o) {
  if (o.budget_hours < 0) fail("budget must be >= 0 hours (got {})", o.budget_hours);
  if (o.budget_hours > 0 && !(o.seconds_per_step > 0))
    fail("a budget in hours needs the seconds one training step takes (got {})", o.seconds_per_step);
  if (!(o.module_share >= 0 && o.module_share < 1)) fail("module share must be in [0, 1) (got {})", o.module_share);
  if (o.lr_schedule != "constant" && o.lr_schedule != "cosine")
    fail("unknown learning-rate schedule '{}' (known: constant, cosine)", o.lr_schedule);
  if (student.edits.empty()) fail("the student has no edits: nothing to incubate");

  // Modules: the teacher's blocks that removals touch (drop edits change whole stages: one module
  // per edited stage, named by the teacher's block ids).
  const UNetLayout teacher = make_layout(student.teacher);
  struct Module {
    std::string block;
    std::vector<std::string> removed;
    double lost = 0;
    size_t order = 0;
  };
  std::vector<Module> modules;
  auto module_of = [&](const std::string& block) -> Module& {
    for (auto& m : modules)
      if (m.block == block) return m;
    modules.push_back({block, {}, 0, modules.size()});
    return modules.back();
  };
  std::vector<const BlockInfo*> blocks;
  for (const auto& b : teacher.down) blocks.push_back(&b);
  if (teacher.mid) blocks.push_back(&*teacher.mid);
  for (const auto& b : teacher.up) blocks.push_back(&b);
  const auto removed = student.removed_units();
  for (const BlockInfo* b : blocks)
    for (const auto& u : teacher.units)
      if (removed.count(u.id) && unit_id::is_under(u.id, b->id)) {
        Module& m = module_of(b->id);
        m.removed.push_back(u.id);
        if (scores.count(u.id)) m.lost += scores.at(u.id);
      }
  for (const auto& e : student.edits) {
    if (e.op == Edit::Op::kDropMid) module_of(unit_id::block(Stage::kMid, 0));
    if (e.op == Edit::Op::kGri || e.op == Edit::Op::kClme)  // replaced blocks train too
      for (const BlockInfo* b : blocks)
        if (unit_id::is_under(e.unit, b->id)) module_of(b->id);
    if (e.op == Edit::Op::kDropLayer || e.op == Edit::Op::kDropStage) {
      const int n = static_cast<int>(student.teacher.down_block_types.size());
      module_of(unit_id::block(Stage::kDown, e.stage));
      module_of(unit_id::block(Stage::kUp, n - 1 - e.stage));
    }
  }
  std::stable_sort(modules.begin(), modules.end(), [](const Module& a, const Module& b) {
    return a.lost != b.lost ? a.lost > b.lost : a.order < b.order;
  });

  int module_steps = o.module_steps, assembly_steps = o.assembly_steps;
  nlohmann::json budget = nullptr;
  if (o.budget_hours > 0) {
    const double total = o.budget_hours * 3600 / o.seconds_per_step;
    module_steps = static_cast<int>(std::floor(total * o.module_share / modules.size()));
    assembly_steps = static_cast<int>(std::floor(total - module_steps * double(modules.size())));
    budget = {{"hours", o.budget_hours}, {"seconds_per_step", o.seconds_per_step}, {"module_share", o.module_share},
              {"total_steps", module_steps * int(modules.size()) + assembly_steps}};
  }
  if (module_steps < 1 || assembly_steps < 1)
    fail("the budget gives {} steps per module and {} assembly steps; give more hours", module_steps, assembly_steps);

  // Hook points: every block output of the student (feature distillation) and its attention units
  // with cross-attention (the semantic term aligns their attention maps).
  const UNetLayout sl = student.student_layout();
  nlohmann::json features = nlohmann::json::array(), attention = nlohmann::json::array();
  for (const auto& b : sl.down) features.push_back(b.id);
  if (sl.mid) features.push_back(sl.mid->id);
  for (const auto& b : sl.up) features.push_back(b.id);
  for (const auto& u : sl.units)
    if (u.kind == UnitKind::kAttention && u.cross_dim > 0 && !removed.count(u.id)) attention.push_back(u.id);

  nlohmann::json mods = nlohmann::json::array();
  for (const auto& m : modules)
    mods.push_back({{"name", m.block}, {"trainable", m.block}, {"removed_units", m.removed}, {"importance_lost", m.lost},
                    {"steps", module_steps}});
  return {{"artifact", "schedule"},
          {"modules", mods},
          {"order_rule", scores.empty() ? "forward order" : "importance lost, highest first"},
          {"assembly", {{"steps", assembly_steps}, {"trainable", "all"}}},
          {"budget", budget},
          {"optimizer",
           {{"name", o.optimizer},
            {"lr", o.lr},
            {"lr_schedule", o.lr_schedule},
            {"weight_decay", o.weight_decay},
            {"grad_clip", o.grad_clip},
            {"batch", o.batch}}},
          {"loss",
           {{"task", o.w_task},
            {"output", o.w_out},
            {"feature", o.w_feat},
            {"semantic", o.w_sem},
            {"feature_hooks", features},
            {"semantic_hooks", attention},
            {"note", "SAS: task eps-MSE, output distillation, feature distillation normalised by the teacher "
                     "feature's norm, cross-attention map alignment (DESIGN.md §6)"}}},
          {"data", o.data}};
}

}  // namespace asdm
