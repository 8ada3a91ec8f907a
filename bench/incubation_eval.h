#pragma once
// asdm incubate's final eval: the teacher, the student as built and the student as incubated,
// sampled from the same prompts and noise. On the proxy world: the attribute classifier's accuracy
// and FID (when given) and PSNR/SSIM against the teacher's samples. On a Stable Diffusion pipeline:
// the students' UNets inside the teacher's pipeline, PSNR/SSIM against the teacher's images, and
// with the weights given the CLIP score against the prompts and the FID against the teacher's
// images (eval/; asdm bench's quality pass). Added to the run's incubation.json. Here rather than
// in incubation/ because it compares models the way asdm bench does. Light header.
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
  // Stable Diffusion teachers: guidance (0: 7.5; the proxy world samples with 1), where the
  // pipeline runs, and the CLIP folder / FID Inception weights for those metrics ("": not scored).
  double guidance = 0;
  std::string device = "cpu", dtype = "fp32";
  std::string clip, inception;
  int fid_dims = 64;
};

// Reads `out`/incubation.json, evaluates the three models it names (teacher, student, output),
// writes the record back with its eval and returns it. Throws asdm::Error when the teacher is
// neither a proxy nor a Stable Diffusion pipeline. progress(name) after each model.
IncubationRecord evaluate_incubation(
    const std::filesystem::path& out, const IncubationEvalOptions& options,
    const std::function<void(const std::string&, int)>& progress = {});

// The eval's table: the proxy world's classifier numbers, or (sd) a Stable Diffusion pipeline's
// CLIP score and FID against the teacher's images; PSNR/SSIM against the teacher's either way.
std::string incubation_eval_table(const IncubationRecord& record, bool sd);

}  // namespace asdm
