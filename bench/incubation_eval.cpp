#include "bench/incubation_eval.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "bench/bench.h"
#include "core/error.h"
#include "core/prompts.h"
#include "proxy/classifier.h"
#include "proxy/pipeline.h"
#include "proxy/world.h"

namespace asdm {

IncubationRecord evaluate_incubation(const std::filesystem::path& out,
                                     const IncubationEvalOptions& o,
                                     const std::function<void(const std::string&, int)>& progress) {
  const std::filesystem::path file = out / "incubation.json";
  IncubationRecord record = IncubationRecord::read(file);
  const std::vector<std::string> names = {"teacher", "student_built", "student_incubated"};
  if (std::filesystem::exists(std::filesystem::path(record.teacher) / "model_index.json")) {
    // The students' UNets inside the teacher's pipeline: asdm bench's quality pass, no timing.
    BenchOptions b;
    b.device = o.device;
    b.dtype = o.dtype;
    b.runs = 1;
    b.warmup = 0;
    b.pipeline_runs = 0;
    b.quality_prompts = o.n;
    b.prompts_file = o.prompts;
    b.sampler.steps = o.steps;
    b.sampler.guidance = o.guidance > 0 ? o.guidance : 7.5;
    b.seed = o.seed;
    b.clip = o.clip;
    b.inception = o.inception;
    b.fid_dims = o.fid_dims;
    const size_t available =
        o.prompts.empty() ? sd_validation_prompts().size() : read_prompts(o.prompts).size();
    const int used = int(std::min<size_t>(available, size_t(std::max(0, o.n))));
    b.progress = [&](const std::string& stage, int done, int) {
      if (stage == "quality" && progress && done >= 1 && done <= int(names.size()))
        progress(names[done - 1], used);
    };
    const BenchResult r = run_bench(
        {{names[0], record.teacher}, {names[1], record.student}, {names[2], record.output}}, b);
    record.eval.emplace();
    for (size_t k = 0; k < names.size(); ++k) {
      ASDM_CHECK(r.models[k].quality, "no quality numbers for {}", names[k]);
      (*record.eval)[names[k]] = *r.models[k].quality;
    }
    record.write(file);
    return record;
  }
  if (!std::filesystem::exists(std::filesystem::path(record.teacher) / "proxy.json"))
    fail("the final eval needs a proxy or Stable Diffusion teacher; {} is neither", record.teacher);
  const auto world = proxy::ProxyPipeline::load(record.teacher).world;
  const std::vector<std::string> prompts =
      o.prompts.empty() ? proxy::prompt_set(world, 1001, o.n) : read_prompts(o.prompts);
  std::unique_ptr<proxy::AttributeClassifier> classifier;
  if (!o.classifier.empty()) classifier = proxy::AttributeClassifier::load(o.classifier);
  SamplerOptions so;
  so.steps = o.steps;
  if (o.guidance > 0) so.guidance = o.guidance;
  const auto q = compare_quality({record.teacher, record.student, record.output}, prompts,
                                 classifier.get(), so, o.seed, nullptr, [&](int done, int) {
                                   if (progress)
                                     progress(names[done - 1], static_cast<int>(prompts.size()));
                                 });
  record.eval.emplace();
  for (size_t k = 0; k < names.size(); ++k) (*record.eval)[names[k]] = q[k];
  record.write(file);
  return record;
}

std::string incubation_eval_table(const IncubationRecord& r, bool sd) {
  ASDM_CHECK(r.eval, "the record has no final eval");
  std::string out = sd ? fmt::format("{:<20} {:>10} {:>14} {:>10} {:>8}\n", "", "CLIP score",
                                     "FID vs teacher", "PSNR (dB)", "SSIM")
                       : fmt::format("{:<20} {:>9} {:>12} {:>9} {:>10} {:>8}\n", "", "mean acc",
                                     "all correct", "FID", "PSNR (dB)", "SSIM");
  for (const char* k : {"teacher", "student_built", "student_incubated"}) {
    const QualityResult& q = r.eval->at(k);
    auto num = [&](bool has, double v, int digits) {
      return has && !std::isnan(v) ? fmt::format("{:.{}f}", v, digits) : std::string("-");
    };
    const bool student = std::string(k) != "teacher";
    if (sd)
      out += fmt::format("{:<20} {:>10} {:>14} {:>10} {:>8}\n", k, num(true, q.clip_score, 2),
                         num(student, q.fid_vs_reference, 1), num(student, q.psnr_db, 2),
                         num(student, q.ssim, 3));
    else
      out += fmt::format("{:<20} {:>9} {:>12} {:>9} {:>10} {:>8}\n", k,
                         num(q.classified, q.mean_accuracy, 3), num(q.classified, q.all_correct, 3),
                         num(q.classified, q.fid, 1), num(student, q.psnr_db, 2),
                         num(student, q.ssim, 3));
  }
  return out;
}

}  // namespace asdm
