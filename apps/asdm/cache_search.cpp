// asdm cache-plan search: cache plans searched under a budget on the whole sampling run, from a
// teacher's temporal.json (asdm ablate --temporal) and profile.json, optionally with removals
// (importance.json); DeepCache's uniform policy beside them as baselines, on the same axes
// (pruner/temporal_search.h). --measure times them all in one interleaved asdm bench.
#include <cstdio>
#include <filesystem>
#include <utility>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "analysis/temporal_record.h"
#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "apps/asdm/progress.h"
#include "bench/bench.h"
#include "core/error.h"
#include "core/log.h"
#include "model/runtime.h"
#include "pruner/cache_search.h"

namespace asdm::cli {
namespace {

namespace fs = std::filesystem;

struct SearchCli {
  CacheSearchOptions search;
  std::string output;
  bool measure = false;
  int threads = 0;
  BenchOptions bench;
};

void run_search(SearchCli o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  const fs::path dir = o.output;
  const RunContext ctx = make_run_context(argv, "cpu");
  const CacheSearchOutput res = search_cache_plans(o.search, dir, ctx);
  const TemporalSearchResult& r = res.result;
  std::fputs(temporal_search_table(r, res.baselines).c_str(), stdout);
  log::info("wrote {} plans and cache_search.json to {}", res.plans.size(), o.output);
  if (!o.measure) return;

  // One interleaved bench: the model, then every plan without removals on it.
  std::vector<std::pair<std::string, fs::path>> models{{"no-plan", res.model}};
  for (const std::vector<TemporalCandidate>* list : {&r.candidates, &res.baselines})
    for (const auto& c : *list) {
      if (!c.removed.empty()) {
        log::info("{} removes units: build it (asdm build --arch {}.arch.json) to measure it",
                  c.name, (dir / c.name).string());
        continue;
      }
      models.push_back({c.name, res.model});
      o.bench.cache_plans[c.name] = (dir / (c.name + ".plan.json")).string();
    }
  const TemporalArtifact t = TemporalArtifact::read(o.search.temporal);
  o.bench.sampler.steps = t.settings.steps;
  o.bench.sampler.sampler = t.settings.sampler;
  o.bench.sampler.guidance = t.settings.guidance;
  o.bench.runs = 1;
  o.bench.warmup = 0;
  o.bench.progress = bench_progress(models.size(), o.bench);
  const BenchResult b = bench_to_file(models, o.bench, dir / "bench.json", false, ctx);
  std::fputs(bench_table(b).c_str(), stdout);
  log::info("wrote {}", (dir / "bench.json").string());
}

constexpr const char* kHelp =
    R"(Search cache plans under a budget on the whole sampling run: predicted time <= (1 - target) x the
teacher's (calls x its forward, from profile.json; take the profile at the sampling batch, guidance
rows included). Loss: the sum over the run's calls of epsilon's nMSE against the teacher's, a reuse
costing temporal.json's one-step cost at its call and staleness (asdm ablate --temporal), a removal
(with --importance) calls x its tier-1 score. Exact for these additive costs. Writes OUT/pN.plan.json
(and pN.arch.json for removals: asdm build --arch), DeepCache's uniform policy at --baseline-level
for each --baseline-intervals as baselines on the same axes, and OUT/cache_search.json; --measure
times the teacher and every reuse-only plan in one interleaved asdm bench (OUT/bench.json), with
quality when --quality-prompts and --classifier are given.)";

}  // namespace

void add_cache_search(CLI::App& parent, const std::vector<std::string>& argv) {
  auto o = std::make_shared<SearchCli>();
  o->bench.quality_prompts = 0;
  auto* sub = parent.add_subcommand("search", kHelp);
  sub->add_option("--temporal", o->search.temporal,
                  "temporal.json of the model (asdm ablate --temporal)")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--profile", o->search.profile, "profile.json of the model (asdm profile)")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--model", o->search.model, "The model (default: the one profile.json names)");
  sub->add_option("--importance", o->search.importance,
                  "importance.json (asdm ablate): also remove units, under the same budget")
      ->check(CLI::ExistingFile);
  sub->add_option("--metric", o->search.metric, "--importance: tier1 (the loss's scale)")
      ->capture_default_str()
      ->check(CLI::IsMember({"tier1"}));
  sub->add_option("--target-speedup", o->search.search.target_speedup,
                  "Fraction of the sampling run's time to remove")
      ->capture_default_str();
  sub->add_option("--max-candidates", o->search.search.max_candidates, "Plans to emit")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--step", o->search.search.candidate_step, "Speed-up between successive plans")
      ->capture_default_str();
  sub->add_option("--max-gap", o->search.search.max_gap,
                  "Calls a branch may be reused before it is computed again (0: temporal.json's "
                  "max gap)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--keep", o->search.search.keep,
                  "Units never reused or removed (comma-separated)")
      ->delimiter(',');
  sub->add_option("--bins", o->search.search.bins, "Time resolution: the teacher's run / bins")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--baseline-level", o->search.baseline_level,
                  "DeepCache baselines: the units at this resolution level and below")
      ->capture_default_str();
  sub->add_option("--baseline-intervals", o->search.baseline_intervals,
                  "DeepCache baselines' intervals (comma-separated; 0: no baselines)")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_flag("--measure", o->measure,
                "Time the teacher and every reuse-only plan in one interleaved asdm bench");
  sub->add_option("--pipeline-runs", o->bench.pipeline_runs, "--measure: interleaved rounds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--quality-prompts", o->bench.quality_prompts,
                  "--measure: prompts for the quality pass (0: none)")
      ->capture_default_str();
  sub->add_option("--classifier", o->bench.classifier,
                  "--measure: proxy attribute classifier (accuracy and proxy FID)");
  sub->add_option("--threads", o->threads, "Intra-op CPU threads (0: libtorch's default)")
      ->capture_default_str();
  sub->add_option("-o,--output", o->output, "Folder for the plans and cache_search.json")
      ->required();
  sub->callback([o, argv] { run_search(*o, argv); });
}

}  // namespace asdm::cli
