#include "pruner/schedule.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/unit_id.h"

namespace asdm {

Schedule make_schedule(const ArchSpec& student, const std::map<std::string, double>& scores,
                       const ScheduleOptions& o) {
  if (o.budget_hours < 0) fail("budget must be >= 0 hours (got {})", o.budget_hours);
  if (o.budget_hours > 0 && !(o.seconds_per_step > 0))
    fail("a budget in hours needs the seconds one training step takes (got {})",
         o.seconds_per_step);
  if (!(o.module_share >= 0 && o.module_share < 1))
    fail("module share must be in [0, 1) (got {})", o.module_share);
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

  Schedule sc;
  int module_steps = o.module_steps, assembly_steps = o.assembly_steps;
  if (o.budget_hours > 0) {
    const double total = o.budget_hours * 3600 / o.seconds_per_step;
    module_steps = static_cast<int>(std::floor(total * o.module_share / modules.size()));
    assembly_steps = static_cast<int>(std::floor(total - module_steps * double(modules.size())));
    sc.budget = Schedule::Budget{o.budget_hours, o.seconds_per_step, o.module_share,
                                 module_steps * int(modules.size()) + assembly_steps};
  }
  if (module_steps < 1 || assembly_steps < 1)
    fail("the budget gives {} steps per module and {} assembly steps; give more hours",
         module_steps, assembly_steps);

  // Hook points: every block output of the student (feature distillation) and its attention units
  // with cross-attention (the semantic term aligns their attention maps).
  const UNetLayout sl = student.student_layout();
  for (const auto& b : sl.down) sc.loss.feature_hooks.push_back(b.id);
  if (sl.mid) sc.loss.feature_hooks.push_back(sl.mid->id);
  for (const auto& b : sl.up) sc.loss.feature_hooks.push_back(b.id);
  for (const auto& u : sl.units)
    if (u.kind == UnitKind::kAttention && u.cross_dim > 0 && !removed.count(u.id))
      sc.loss.semantic_hooks.push_back(u.id);

  for (const auto& m : modules)
    sc.modules.push_back({m.block, m.block, m.removed, m.lost, module_steps});
  sc.order_rule = scores.empty() ? "forward order" : "importance lost, highest first";
  sc.assembly_steps = assembly_steps;
  sc.optimizer = {o.optimizer, o.lr, o.lr_schedule, o.weight_decay, o.grad_clip, o.batch};
  sc.loss.task = o.w_task;
  sc.loss.output = o.w_out;
  sc.loss.feature = o.w_feat;
  sc.loss.semantic = o.w_sem;
  sc.loss.note =
      "SAS: task eps-MSE, output distillation, feature distillation normalised by the teacher "
      "feature's norm, cross-attention map alignment (DESIGN.md §6)";
  sc.data = o.data;
  return sc;
}

nlohmann::json Schedule::to_json() const {
  nlohmann::json j = header.to_json();
  j["artifact"] = kArtifact;  // also when the header was left empty
  if (header.schema_version == 0) j["schema_version"] = kSchemaVersion;
  nlohmann::json mods = nlohmann::json::array();
  for (const auto& m : modules)
    mods.push_back({{"name", m.name},
                    {"trainable", m.trainable},
                    {"removed_units", m.removed_units},
                    {"importance_lost", m.importance_lost},
                    {"steps", m.steps}});
  j["modules"] = mods;
  j["order_rule"] = order_rule;
  j["assembly"] = {{"steps", assembly_steps}, {"trainable", assembly_trainable}};
  j["budget"] = budget ? nlohmann::json{{"hours", budget->hours},
                                        {"seconds_per_step", budget->seconds_per_step},
                                        {"module_share", budget->module_share},
                                        {"total_steps", budget->total_steps}}
                       : nlohmann::json(nullptr);
  j["optimizer"] = {{"name", optimizer.name},
                    {"lr", optimizer.lr},
                    {"lr_schedule", optimizer.lr_schedule},
                    {"weight_decay", optimizer.weight_decay},
                    {"grad_clip", optimizer.grad_clip},
                    {"batch", optimizer.batch}};
  j["loss"] = {{"task", loss.task},
               {"output", loss.output},
               {"feature", loss.feature},
               {"semantic", loss.semantic},
               {"feature_hooks", loss.feature_hooks},
               {"semantic_hooks", loss.semantic_hooks},
               {"note", loss.note}};
  j["data"] = data;
  if (!student.empty()) j["student"] = student;
  if (!teacher.empty()) j["teacher"] = teacher;
  return j;
}

Schedule Schedule::from_json(const nlohmann::json& j, const std::string& source) {
  Schedule s;
  s.header = ArtifactHeader::from_json(j, kArtifact, kSchemaVersion, source, kMadeBy);
  parse_artifact_fields(kArtifact, source, [&] {
    for (const auto& m : j.at("modules"))
      s.modules.push_back({m.at("name").get<std::string>(),
                           m.value("trainable", m.at("name").get<std::string>()),
                           m.value("removed_units", std::vector<std::string>()),
                           m.value("importance_lost", 0.0), m.at("steps").get<int>()});
    s.order_rule = j.value("order_rule", std::string());
    s.assembly_steps = j.at("assembly").at("steps").get<int>();
    s.assembly_trainable = j.at("assembly").value("trainable", std::string("all"));
    if (j.contains("budget") && !j.at("budget").is_null()) {
      const auto& b = j.at("budget");
      s.budget = Budget{b.at("hours").get<double>(), b.at("seconds_per_step").get<double>(),
                        b.at("module_share").get<double>(), b.at("total_steps").get<int>()};
    }
    const auto& o = j.at("optimizer");
    s.optimizer = {o.value("name", std::string("adamw")),
                   o.value("lr", 5e-5),
                   o.value("lr_schedule", std::string("constant")),
                   o.value("weight_decay", 1e-2),
                   o.value("grad_clip", 1.0),
                   o.value("batch", 32)};
    const auto& l = j.at("loss");
    s.loss = {l.value("task", 1.0),
              l.value("output", 1.0),
              l.value("feature", 1.0),
              l.value("semantic", 1.0),
              l.value("feature_hooks", std::vector<std::string>()),
              l.value("semantic_hooks", std::vector<std::string>()),
              l.value("note", std::string())};
    s.data = j.value("data", std::string("proxy"));
    s.student = j.value("student", std::string());
    s.teacher = j.value("teacher", std::string());
  });
  return s;
}

Schedule Schedule::read(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void Schedule::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

}  // namespace asdm
