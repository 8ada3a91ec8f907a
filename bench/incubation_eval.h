#pragma once
// asdm incubate's final eval on the proxy world: the teacher, the student as built and the student
// as incubated, sampled from the same prompts and noise, scored with the attribute classifier
// (when given) and with PSNR/SSIM against the teacher's samples; added to the run's
// incubation.json. Here rather than in incubation/ because it compares models the way asdm bench
// does (compare_quality). Light header.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "incubation/incubation_record.h"

namespace asdm {

struct IncubationEvalOptions {
  std::string classifier;  // attribute classifier folder ("": PSNR/SSIM only)
  std::string prompts;     // prompt file ("": `n` validation prompts of the teacher's world)
  int n = 100;
  int steps = 25;  // sampler steps
  uint64_t seed = 0;
};

// Reads `out`/incubation.json, evaluates the three models it names (teacher, student, output),
// writes the record back with its eval and returns it. Throws asdm::Error when the teacher is not
// a proxy pipeline. progress(name) after each model.
IncubationRecord evaluate_incubation(
    const std::filesystem::path& out, const IncubationEvalOptions& options,
    const std::function<void(const std::string&, int)>& progress = {});

}  // namespace asdm
