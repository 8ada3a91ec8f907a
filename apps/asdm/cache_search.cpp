// asdm cache-plan search: cache plans searched under a budget on the whole sampling run, from a
// teacher's temporal.json (asdm ablate --temporal) and profile.json, optionally with removals
// (importance.json); DeepCache's uniform policy beside them as baselines, on the same axes
// (pruner/temporal_search.h). --measure times them all in one interleaved asdm bench.
#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "analysis/plan_scoring.h"
#include "analysis/temporal_record.h"
#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "apps/asdm/progress.h"
#include "bench/bench.h"
#include "bench/plan_bench.h"
#include "core/error.h"
#include "core/log.h"
#include "model/runtime.h"
#include "pruner/cache_search.h"

namespace asdm::cli {
namespace {

namespace fs = std::filesystem;

struct SearchCli {
  CacheSearchOptions search;
  std::string output, refine_prompts, refine_embeddings, refine_clip,
      refine_metric = "eps", refine_order = "interactions", refine_moves = "menu";
  bool measure = false;
  int threads = 0;
  BenchOptions bench;
};

// `refine_given`: the --refine-* options given on the command line.
void run_search(SearchCli o, const std::vector<std::string>& argv,
                const std::vector<std::string>& refine_given) {
  set_threads(o.threads);
  const fs::path dir = o.output;
  const RunContext ctx = make_run_context(argv, "cpu");
  o.search.refine.local_moves = o.refine_moves == "local";
  o.search.refine.interaction_prior = o.refine_order == "interactions";
  if ((o.refine_metric == "clip") != !o.refine_clip.empty())
    fail("--refine-metric clip and --refine-clip go together (a CLIP model scores the samples)");
  const bool scored = !o.refine_prompts.empty() || !o.refine_embeddings.empty();
  if (!scored && !refine_given.empty())
    fail("{}: only with --refine-prompts or --refine-embeddings", join_limited(refine_given));
  PlanScoringFactory scoring;
  if (scored)
    scoring = [&](const std::string& model, const TemporalSettings& settings) {
      return PlanScoring{o.refine_metric, plan_metric_definition(o.refine_metric),
                         make_plan_losses(model, o.refine_prompts, o.refine_embeddings, settings,
                                          o.refine_metric, note, o.refine_clip),
                         plan_scoring_identity(model, o.refine_prompts, o.refine_embeddings,
                                               settings, o.refine_metric, o.refine_clip),
                         !plan_metric_scores_quality(o.refine_metric)};
    };
  const CacheSearchOutput res = search_cache_plans(o.search, dir, ctx, scoring, note);
  const TemporalSearchResult& r = res.result;
  std::fputs(temporal_search_table(r, res.baselines).c_str(), stdout);
  log::info("wrote {} plans and cache_search.json to {}", res.plans.size(), o.output);
  if (!o.measure) return;

  o.bench.progress = bench_progress(cache_plan_bench_models(res), o.bench);
  const BenchResult b = bench_cache_plans(res, dir, o.search.temporal, o.bench, ctx, note);
  std::fputs(bench_table(b).c_str(), stdout);
  log::info("wrote {}", (dir / "bench.json").string());
}

constexpr const char* kHelp =
    R"(Search cache plans under a budget on the whole sampling run: predicted time <= (1 - target) x the
teacher's (calls x its forward in profile.json, profiled at the sampling batch, guidance rows
included). Loss: epsilon's nMSE against the teacher's summed over the run's calls, a reuse costing
temporal.json's one-step cost at its call and staleness (asdm ablate --temporal), a removal
(--importance) calls x its tier-1 score; exact for these additive costs. Writes OUT/pN.plan.json
(pN.arch.json for removals: asdm build --arch), DeepCache's uniform policy (--baseline-level,
--baseline-intervals) as baselines on the same axes, and OUT/cache_search.json; --measure times the
teacher and every plan in one interleaved asdm bench (OUT/bench.json; a plan that removes units on
its student, built training-free in OUT/pN.student; quality with --quality-prompts and
--classifier). --refine-prompts (or --refine-embeddings; every other --refine-* option needs one)
scores every plan whole on those prompts (--refine-metric; eps applies the whole plan along the
teacher's trajectories, on the search's scale) and refines the first --refine-candidates plans
(--refine-baselines: DeepCache's unit-reuse ones too, as deepcache-lL-kNr): reuses move between
units while the grouped loss falls, at the same predicted time; a changed plan is written as pNr.
Refine on other prompts than you evaluate on: it fits them. Scores are kept in
OUT/grouped_scores.json; the same command again resumes from them.)";

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
      ->check(one_of({"tier1"}));
  sub->add_option("--target-speedup", o->search.search.target_speedup,
                  "Fraction of the sampling run's time to remove")
      ->capture_default_str();
  sub->add_option("--max-candidates", o->search.search.max_candidates, "Plans to emit")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--step", o->search.search.candidate_step, "Speed-up between successive plans")
      ->capture_default_str();
  sub->add_option("--max-gap", o->search.search.max_gap,
                  "Calls a branch may be reused before it is computed again (0: temporal.json's "
                  "max gap)")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_option("--keep", o->search.search.keep, "Units never reused or removed (a,b,...)")
      ->delimiter(',');
  sub->add_option("--bins", o->search.search.bins, "Time resolution: the teacher's run / bins")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--baseline-level", o->search.baseline_level,
                  "DeepCache baselines: the units at this resolution level and below")
      ->capture_default_str();
  sub->add_option("--baseline-skip-layers", o->search.baseline_skip_layers,
                  "DeepCache baselines' skip-branch form: layers kept inside the blocks above "
                  "--baseline-level (-1: whole blocks; level 1 with 1 layer is DeepCache's "
                  "default branch 0)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 1 << 20));
  sub->add_option("--baseline-intervals", o->search.baseline_intervals,
                  "DeepCache baselines' intervals (comma-separated; 0: no baselines)")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--refine-prompts", o->refine_prompts,
                  "Prompt file (of the model's pipeline) to score plans whole on and refine them")
      ->check(CLI::ExistingFile);
  sub->add_option("--refine-embeddings", o->refine_embeddings,
                  "As --refine-prompts for any UNet: a safetensors of text embeddings")
      ->check(CLI::ExistingFile)
      ->excludes("--refine-prompts");
  sub->add_option(
         "--refine-metric", o->refine_metric,
         "Grouped loss: eps (tier 1, the search's scale), ssim (final samples against the "
         "teacher's), fid (their proxy FID against renders; proxy pipelines) or clip (their "
         "CLIP score's drop; SD pipelines, with --refine-clip)")
      ->capture_default_str()
      ->check(one_of(plan_metrics()));
  sub->add_option("--refine-candidates", o->search.refine_candidates,
                  "Plans refined, from the first (the others are only scored)")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_option("--refine-clip", o->refine_clip,
                  "CLIP folder (as asdm eval --clip) for --refine-metric clip")
      ->check(CLI::ExistingDirectory);
  sub->add_flag("--refine-baselines", o->search.refine_baselines,
                "Also refine DeepCache's unit-reuse baselines, each at its predicted time");
  sub->add_option("--refine-evals", o->search.refine.max_evaluations,
                  "Most grouped scores per refined plan, its start's included")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--refine-shift", o->search.refine.move_fraction,
                  "Time one refinement move shifts between two units (fraction of the run)")
      ->capture_default_str()
      ->check(CLI::Range(1e-6, 0.5));
  sub->add_option("--refine-moves", o->refine_moves,
                  "A move's two units take their menus' calls for their new counts, or keep their "
                  "patterns and drop or add single calls (local)")
      ->capture_default_str()
      ->check(one_of({"menu", "local"}));
  sub->add_option(
         "--refine-order", o->refine_order,
         "Order of the refinement's moves: by additive change plus an interaction prior "
         "fitted to the last plan scored, or by additive change only (always, for fid and clip)")
      ->capture_default_str()
      ->check(one_of({"interactions", "additive"}));
  sub->add_flag("--measure", o->measure,
                "Time the teacher and every plan in one interleaved asdm bench (plans that "
                "remove units on their students, built training-free)");
  sub->add_option("--pipeline-runs", o->bench.pipeline_runs, "--measure: interleaved rounds")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--quality-prompts", o->bench.quality_prompts,
                  "--measure: prompts for the quality pass (0: none)")
      ->capture_default_str();
  sub->add_option("--classifier", o->bench.classifier,
                  "--measure: proxy attribute classifier (accuracy and proxy FID)");
  add_threads_option(sub, o->threads);
  sub->add_option("-o,--output", o->output, "Folder for the plans and cache_search.json")
      ->required()
      ->check(output_folder());
  sub->callback([o, argv, sub] { run_search(*o, argv, given_options(sub, "--refine-")); });
}

}  // namespace asdm::cli
