#include "bench/plan_bench.h"

#include <utility>
#include <vector>

#include <fmt/format.h>

#include "analysis/temporal_record.h"
#include "bench/bench.h"
#include "pruner/build_student.h"

namespace asdm {

namespace fs = std::filesystem;

size_t cache_plan_bench_models(const CacheSearchOutput& search) {
  return 1 + search.result.candidates.size() + search.baselines.size();
}

BenchResult bench_cache_plans(const CacheSearchOutput& search, const fs::path& out,
                              const fs::path& temporal, BenchOptions bench,
                              const RunContext& context,
                              const std::function<void(const std::string&)>& note) {
  std::vector<std::pair<std::string, fs::path>> models{{"no-plan", search.model}};
  for (const std::vector<TemporalCandidate>* list : {&search.result.candidates, &search.baselines})
    for (const auto& c : *list) {
      fs::path model = search.model;
      if (!c.removed.empty()) {
        BuildOptions b;
        b.teacher = search.model;
        b.arch = (out / (c.name + ".arch.json")).string();
        b.output = (out / (c.name + ".student")).string();
        if (note)
          note(fmt::format("{} removes {} units: building its student in {}", c.name,
                           c.removed.size(), b.output));
        model = build_student(b, context).dir;
      }
      models.push_back({c.name, model});
      bench.cache_plans[c.name] = (out / (c.name + ".plan.json")).string();
    }
  const TemporalArtifact t = TemporalArtifact::read(temporal);
  bench.sampler.steps = t.settings.steps;
  bench.sampler.sampler = t.settings.sampler;
  bench.sampler.guidance = t.settings.guidance;
  bench.runs = 1;
  bench.warmup = 0;
  return bench_to_file(models, bench, out / "bench.json", false, context);
}

}  // namespace asdm
