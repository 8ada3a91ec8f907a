#pragma once
// incubation.json (DESIGN.md §8), torch-free: what asdm incubate trained (teacher, student,
// schedule, steps, time, the per-step log) and, for proxy teachers, the final eval of the teacher,
// the student as built and the student as incubated on the same prompts and noise. Written by
// incubate() (incubation/incubate.h) when a run completes; the eval by bench/incubation_eval.h.
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/artifact.h"
#include "proxy/quality.h"

namespace asdm {

struct IncubationRecord {
  static constexpr const char* kArtifact = "incubation";
  static constexpr int kSchemaVersion = 1;
  static constexpr const char* kMadeBy = "asdm incubate writes one when a run completes";
  ArtifactHeader header;

  std::string teacher, student, schedule, output;
  int steps = 0;
  double seconds = 0;  // training time of the run (all processes that continued it)
  std::string log;     // incubation.jsonl: one line per step, every loss term
  // teacher, student_built, student_incubated; PSNR/SSIM against the teacher's samples.
  std::optional<std::map<std::string, QualityResult>> eval;

  nlohmann::json to_json() const;
  static IncubationRecord from_json(const nlohmann::json& j,
                                    const std::string& source = "incubation");
  static IncubationRecord read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
};

}  // namespace asdm
