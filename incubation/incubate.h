#pragma once
// Progressive incubation (issue 7; DESIGN.md §6): runs a schedule.json (asdm build) on a student.
// Each module (a block with edits) is first trained inside the frozen teacher — a hybrid network
// whose only student part, and only trainable part, is that block — in the schedule's order; then
// the assembled student is fine-tuned with everything trainable. Every step minimises the SAS loss
// against the frozen teacher (incubation/sas.h). Checkpoints (student and phase weights, optimizer,
// EMA, step) are written atomically; every random draw is a function of (seed, global step), so a
// resumed run ends with the weights an uninterrupted one would. Light header.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "core/artifact.h"

namespace asdm {

namespace dist {
class Group;
}

struct IncubateOptions {
  int total_steps = 0;      // 0: the schedule's steps; else every phase scaled to this total
  bool one_shot = false;    // assembly only, for the whole budget (no module phases)
  int batch = 0;            // the global batch of a step (0: the schedule's)
  int accumulate = 1;       // micro-batches per step and rank (gradient accumulation)
  bool recompute = false;   // activation checkpointing: units recompute their activations in
                            // backward (model/recompute.h) instead of keeping them
  double lr = 0;            // 0: the schedule's
  std::string lr_schedule;  // "": the schedule's; constant | cosine (per phase)
  std::map<std::string, double>
      weights;             // task, output, feature, semantic: override the schedule's
  double ema = 0;          // EMA decay of the student's weights in the assembly phase; 0: off
  double grad_clip = 0;    // 0: the schedule's
  double cond_drop = 0.1;  // proxy data: captions dropped to "" (guidance's unconditional branch)
  std::string
      data;  // "": the proxy world (teacher must be a proxy pipeline); else latents.safetensors
  int checkpoint_every = 50;
  uint64_t seed = 0;
  std::string device = "cpu";
  bool amp = false;  // CUDA: forwards under bfloat16 autocast (weights and optimizer in float32)
  std::string teacher_dtype = "float32";  // the frozen teacher's weights: float16 / bfloat16 halve
                                          // its memory (its outputs are compared in float32)
  int stop_after = -1;                    // stop after this global step as if interrupted (tests)
  int die_at = -1;  // this process kills itself (SIGKILL) after this global step (tests)
  // The job (distributed/group.h; nullptr: one process). Each rank trains on its slice of every
  // global batch; gradients are averaged over the ranks; rank 0 alone writes the log, checkpoints
  // and the trained student. Resuming with another number of ranks continues the same run.
  dist::Group* group = nullptr;
  RunContext context;  // argv and device for incubation.json's header
};

struct IncubateProgress {
  std::string phase;  // module name or "assembly"
  int phase_index = 0, phases = 0;
  int step = 0, steps = 0;    // within the phase
  int global = 0, total = 0;  // over all phases
  std::map<std::string, double> losses;
  double lr = 0, grad_norm = 0, seconds = 0;  // seconds: this process's training time so far
};

struct IncubateResult {
  int global_step = 0, total_steps = 0;
  bool complete = false;
  double seconds = 0;
  std::filesystem::path
      student;  // out: the trained student (a pipeline folder for a proxy student)
};

// Trains `student` (a folder asdm build wrote; left unchanged) against `teacher` per `schedule`
// ("": the student folder's schedule.json) into `out`: out/incubation.jsonl (one line per step,
// every loss term), out/checkpoint/, and at the end the trained student (out/unet/ and the
// pipeline's other components for a pipeline student) and out/incubation.json. With resume,
// continues out/checkpoint (same options, else an error naming them); a corrupt checkpoint is an
// error and is left as it is. Without resume, an existing checkpoint is an error. With a group,
// every rank calls this with the same arguments (checked: settings and student are compared).
// Each example of a step (its data, noise and timestep) is a function of (seed, global step, its
// index in the global batch), and every loss term is a mean over examples, so the ranks ×
// micro-batches split of a batch changes the result only by float rounding.
IncubateResult incubate(const std::filesystem::path& teacher, const std::filesystem::path& student,
                        const std::filesystem::path& schedule, const std::filesystem::path& out,
                        const IncubateOptions& options, bool resume,
                        const std::function<void(const IncubateProgress&)>& progress = {});

}  // namespace asdm
