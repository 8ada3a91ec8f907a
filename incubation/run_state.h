#pragma once
// What an incubation run keeps besides its weights, torch-free: checkpoint/state.json (where the
// run stopped and every setting a resumed run must share with it) and the lines of
// incubation.jsonl (one per step, every loss term).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace asdm {

// The resolved settings of a run; a resume must use the same.
struct IncubationSettings {
  int batch = 0;
  double lr = 0;
  std::string lr_schedule;
  double grad_clip = 0, weight_decay = 0;
  std::map<std::string, double> weights;            // task, output, feature, semantic
  std::vector<std::pair<std::string, int>> phases;  // (module or "assembly", steps)
  int total_steps = 0;                              // the --steps asked for (0: the schedule's)
  bool one_shot = false;
  double ema = 0, cond_drop = 0;
  std::string data;
  uint64_t seed = 0;
  bool amp = false;
  std::string teacher_dtype = "float32";  // the frozen teacher's weights
  // How examples, noise and timesteps are drawn from the seed: 2 = per example (issue 24; a
  // checkpoint without the field was written by the per-step draws of earlier versions, which a
  // resume cannot continue exactly).
  int stream = 2;

  nlohmann::json to_json() const;
  static IncubationSettings from_json(const nlohmann::json& j);
  // The first setting that differs from the checkpoint's, in words ("" when none): "lr = 0.001
  // here but 0.002 in the checkpoint" (`here` and `there` name the two sides).
  std::string first_difference(const IncubationSettings& checkpoint,
                               const std::string& here = "here",
                               const std::string& there = "in the checkpoint") const;
};

struct CheckpointState {
  int global_step = 0, phase_index = 0, phase_step = 0, total_steps = 0;
  std::string student_sha256;  // of the student's weights the run started from
  IncubationSettings options;

  nlohmann::json to_json() const;
  // Throws (nlohmann::json's exceptions or asdm::Error) on an unreadable or incomplete file.
  static CheckpointState read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
};

// One line of incubation.jsonl.
struct IncubationLogLine {
  int global_step = 0, step = 0;
  std::string phase;
  double lr = 0, grad_norm = 0, seconds = 0;
  std::map<std::string, double> losses;  // written as loss_<name>
  double samples_per_s = 0;  // the step's global batch over its wall time (0: not recorded)
  int64_t peak_bytes = 0;    // rank 0's peak tensor memory in the step (0: not recorded): on
                             // CUDA all allocated device memory, on a CPU what the step allocated
  int ranks = 0, accumulate = 0;  // how the step's batch was split (0: not recorded)
  std::string dump() const;
  // The inverse of dump(); nullopt for a line that is not one (a line cut short by a kill).
  static std::optional<IncubationLogLine> parse(const std::string& line);
};

// Every line of an incubation.jsonl that parses, in order (none when the file is absent).
std::vector<IncubationLogLine> read_incubation_log(const std::filesystem::path& path);

}  // namespace asdm
