#pragma once
// The incubation schedule of a student (issue 6 item 5; DESIGN.md §6): which modules are trained
// inside the frozen teacher first, in which order and for how many steps, then how long the
// assembled student is fine-tuned, with which optimizer and which SAS loss weights and hook points.
// Plain data for `asdm incubate`; torch-free.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

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

// Modules are the student's blocks (down_blocks.i, mid_block, up_blocks.i) with edits, incubated
// in order of the importance they lost (the sum of their removed units' scores, highest first; in
// forward order without scores). Throws asdm::Error for a student without edits or bad options.
nlohmann::json make_schedule(const ArchSpec& student, const std::map<std::string, double>& scores,
                             const ScheduleOptions& options);

}  // namespace asdm
