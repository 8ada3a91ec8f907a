#include "bench/incubation_eval.h"

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
  if (!std::filesystem::exists(std::filesystem::path(record.teacher) / "proxy.json"))
    fail("the final eval needs a proxy teacher; {} is not one", record.teacher);
  const auto world = proxy::ProxyPipeline::load(record.teacher).world;
  const std::vector<std::string> prompts =
      o.prompts.empty() ? proxy::prompt_set(world, 1001, o.n) : read_prompts(o.prompts);
  std::unique_ptr<proxy::AttributeClassifier> classifier;
  if (!o.classifier.empty()) classifier = proxy::AttributeClassifier::load(o.classifier);
  SamplerOptions so;
  so.steps = o.steps;
  const std::vector<std::string> names = {"teacher", "student_built", "student_incubated"};
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

}  // namespace asdm
