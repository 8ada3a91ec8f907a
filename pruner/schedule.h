#pragma once
// The incubation schedule of a student (issue 6 item 5; DESIGN.md §6): which modules are trained
// inside the frozen teacher first, in which order and for how many steps, then how long the
// assembled student is fine-tuned, with which optimizer and which SAS loss weights and hook points.
// schedule.json (DESIGN.md §8) is the Schedule struct: written by asdm build beside the student
// (pruner/build_student.h), read by asdm incubate (incubation/incubate.h). Torch-free.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/artifact.h"
#include "model/arch_spec.h"

namespace asdm {

struct ScheduleOptions {
  // Either a compute budget (hours of the device that will train, with the measured seconds one
  // training step takes there) or explicit step counts.
  double budget_hours = 0;
  double seconds_per_step = 0;
  double module_share = 0.5;  // with a budget: the part spent on the modules, the rest on assembly
  int module_steps = 400;     // per module, without a budget
  int assembly_steps = 800;
  // BK-SDM's defaults: AdamW, constant 5e-5, every loss weight 1.
  std::string optimizer = "adamw";
  double lr = 5e-5, weight_decay = 1e-2, grad_clip = 1.0;
  std::string lr_schedule = "constant";  // constant | cosine
  int batch = 32;
  double w_task = 1, w_out = 1, w_feat = 1, w_sem = 1;
  std::string data = "proxy";  // the proxy world's stream, or a folder of image/caption pairs
};

struct ScheduleModule {
  std::string name;       // a block id: down_blocks.i, mid_block, up_blocks.i
  std::string trainable;  // what is trained in its phase (the block)
  std::vector<std::string> removed_units;
  double importance_lost = 0;  // the sum of its removed units' scores
  int steps = 0;
};

struct Schedule {
  static constexpr const char* kArtifact = "schedule";
  static constexpr int kSchemaVersion = 1;
  static constexpr const char* kMadeBy = "asdm build writes one beside the student";
  ArtifactHeader header;

  std::vector<ScheduleModule> modules;  // in incubation order
  std::string order_rule;               // how the modules were ordered, in words
  int assembly_steps = 0;
  std::string assembly_trainable = "all";
  struct Budget {
    double hours = 0, seconds_per_step = 0, module_share = 0;
    int total_steps = 0;
  };
  std::optional<Budget> budget;  // when the steps came from a compute budget
  struct Optimizer {
    std::string name = "adamw";
    double lr = 5e-5;
    std::string lr_schedule = "constant";
    double weight_decay = 1e-2, grad_clip = 1.0;
    int batch = 32;
  } optimizer;
  struct Loss {
    double task = 1, output = 1, feature = 1, semantic = 1;
    std::vector<std::string> feature_hooks;   // block outputs (feature distillation)
    std::vector<std::string> semantic_hooks;  // attention units (cross-attention maps)
    std::string note;
  } loss;
  std::string data = "proxy";
  std::string student, teacher;  // the folders it was made for (asdm build)

  nlohmann::json to_json() const;
  static Schedule from_json(const nlohmann::json& j, const std::string& source = "schedule");
  static Schedule read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
};

// Modules are the student's blocks (down_blocks.i, mid_block, up_blocks.i) with edits, incubated
// in order of the importance they lost (the sum of their removed units' scores, highest first; in
// forward order without scores). Throws asdm::Error for a student without edits or bad options.
// The header is left empty: the writer stamps it.
Schedule make_schedule(const ArchSpec& student, const std::map<std::string, double>& scores,
                       const ScheduleOptions& options);

}  // namespace asdm
