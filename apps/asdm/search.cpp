// asdm search: the removal sets that lose the least predicted quality under a latency budget, as
// candidates.json and a table (pruner/search_candidates.h does the work; under torchrun,
// pruner/search_ranks.h spreads the refinement's grouped scores over the ranks).
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "analysis/group_scoring.h"
#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "apps/asdm/job.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"
#include "model/runtime.h"
#include "pruner/search_candidates.h"
#include "pruner/search_ranks.h"

namespace asdm::cli {
namespace {

struct SearchCli {
  CandidateSearchOptions search;
  std::string output, refine_prompts, refine_embeddings;
  std::vector<std::string> allow;  // replacement blocks: "clme", "gri"
  bool allow_no_cross_attention = false;
  int threads = 0;
};

void run_search(SearchCli o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  CandidateSearchOptions& so = o.search;
  so.search.keep_cross_attention = !o.allow_no_cross_attention;
  so.clme = std::find(o.allow.begin(), o.allow.end(), "clme") != o.allow.end();
  so.gri = std::find(o.allow.begin(), o.allow.end(), "gri") != o.allow.end();
  GroupLossFactory scorer;
  if (!o.refine_prompts.empty() || !o.refine_embeddings.empty()) {
    // Grouped scores kept beside the output (candidates.json -> candidates.grouped_scores.json).
    const std::string input = o.refine_prompts.empty() ? o.refine_embeddings : o.refine_prompts;
    so.scores_file = std::filesystem::path(o.output).replace_extension(".grouped_scores.json");
    so.scoring_inputs =
        fmt::format("{} {} sha256 {}", o.refine_prompts.empty() ? "embeddings" : "prompts", input,
                    sha256_file(input));
  }
  if (!o.refine_prompts.empty() || !o.refine_embeddings.empty())
    scorer = [&](const std::string& model, const ImportanceScores& importance) -> GroupLossFn {
      return make_group_loss(model, o.refine_prompts, o.refine_embeddings, importance, note);
    };
  const auto job = join_job(so.device);
  so.device = job->device();
  const std::optional<CandidateSet> set =
      search_candidates_over_ranks(so, scorer, make_run_context(argv, so.device),
                                   {note, count_progress("measuring: forward")}, *job);
  if (!set) return;  // another rank: it scored its share of the refinement
  set->write(o.output);
  std::fputs(candidates_table(*set).c_str(), stdout);
  log::info("wrote {}", o.output);
}

constexpr const char* kHelp =
    R"(Find the units to remove that lose the least predicted quality under a latency budget: predicted
UNet latency <= (1 - target) x the teacher's. Latency is predicted from profile.json (teacher time
minus the removed units' inclusive times), quality loss as the sum of the removed units' importance
scores (importance.json). The search is exact for these additive scores (a knapsack by dynamic
programming over latency saved); every block with cross-attention keeps at least one attention unit
unless --allow-no-cross-attention. Writes candidates along the Pareto front, from the target up in
steps of --step, each with its ArchSpec, params and MACs; --measure times them all against the
teacher in interleaved forwards on this machine and reports the predictor's error. --refine-prompts
(or --refine-embeddings) re-scores the first candidate as a group and, with --allow gri, scores GRI;
those scores are kept in OUTPUT's .grouped_scores.json: the same command again (after a kill) takes
them from there.)";

constexpr const char* kAllowHelp =
    R"(Replacement blocks in the candidates (comma-separated): clme (every removed ResBlock's kernels
become CLME-CondConv experts of its nearest surviving sibling), gri (GRI self-attention in the
attention units of maps of at least --gri-min-tokens tokens, where it measures faster). Each is
timed against what it replaces and the difference added to the prediction. CLME starts out
exact (no quality cost); GRI does not: with --refine-prompts/--refine-embeddings each GRI unit is
scored in tier 1 and becomes a third choice beside keeping and removing the unit in the search;
without them GRI is placed wherever it is faster, its quality cost unscored)";

}  // namespace

void add_search(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<SearchCli>();
  CandidateSearchOptions& s = o->search;
  auto* sub = app.add_subcommand("search", kHelp);
  sub->add_option("--profile", s.profile,
                  "profile.json of the teacher (asdm profile, single forwards)")
      ->required();
  sub->add_option("--importance", s.importance, "importance.json of the teacher (asdm ablate)")
      ->required();
  sub->add_option("--model", s.model, "The teacher (default: the model profile.json names)");
  sub->add_option("--metric", s.metric,
                  "Importance score: tier1 (nMSE), tier2 (1 - SSIM) or clip (tier 2's CLIP-score "
                  "drop: asdm ablate --tier 2 --clip)")
      ->capture_default_str()
      ->check(one_of({"tier1", "tier2", "clip"}));
  sub->add_option("--target-speedup", s.search.target_speedup,
                  "Fraction of UNet latency to remove (A-SDM: 0.22)")
      ->capture_default_str();
  sub->add_option("--max-candidates", s.search.max_candidates, "Candidates to emit")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--step", s.search.candidate_step, "Speedup between successive candidates")
      ->capture_default_str();
  sub->add_option("--keep", s.search.keep, "Units never removed (comma-separated)")->delimiter(',');
  sub->add_option("--remove", s.search.remove, "Units always removed (comma-separated)")
      ->delimiter(',');
  sub->add_option("--allow", o->allow, kAllowHelp)->delimiter(',')->check(one_of({"clme", "gri"}));
  sub->add_option("--gri-window", s.gri_window, "--allow gri: window side in tokens")
      ->capture_default_str();
  sub->add_option("--gri-pool", s.gri_pool,
                  "--allow gri: pooled global tokens, pool x pool each (0: none)")
      ->capture_default_str();
  sub->add_option("--gri-min-tokens", s.gri_min_tokens,
                  "--allow gri: smallest map (tokens) considered")
      ->capture_default_str();
  sub->add_option("--refine-prompts", o->refine_prompts,
                  "Refine the first candidate: re-score its removal set as a group (tier 1, the "
                  "importance run's\nsettings) on these prompts (a proxy pipeline's prompt file) "
                  "and swap units while that helps;\nwith --allow gri, also score each GRI unit on "
                  "them (a third choice in the search)")
      ->check(CLI::ExistingFile);
  sub->add_option("--refine-embeddings", o->refine_embeddings,
                  "As --refine-prompts for any UNet: a safetensors of text embeddings (see asdm "
                  "ablate --help)")
      ->check(CLI::ExistingFile)
      ->excludes("--refine-prompts");
  sub->add_option("--refine-evals", s.refine_evals, "Most grouped scores the refinement computes")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_flag("--allow-no-cross-attention", o->allow_no_cross_attention,
                "Let a block lose all its attention units");
  sub->add_flag("--measure", s.measure,
                "Time the teacher and every candidate (random weights, interleaved)");
  sub->add_option("--validate", s.validate,
                  "Also time N random removal sets with the candidates and report the predictor's "
                  "error on them")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_flag("--graphs", s.graphs,
                "--measure, --validate: replay CUDA graphs, as the profile did (implied by a "
                "profile taken with asdm profile --graphs)");
  sub->add_option("--runs", s.runs, "--measure: timed rounds")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--warmup", s.warmup, "--measure: warm-up rounds")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_option("--threads", o->threads,
                  "--measure: intra-op CPU threads (0: libtorch's default)")
      ->capture_default_str();
  sub->add_option("--device", s.device, "--measure, --validate: cpu, cuda or cuda:N")
      ->capture_default_str();
  sub->add_option("--dtype", s.dtype, "--measure, --validate: float32, float16 or bfloat16")
      ->capture_default_str()
      ->check(one_of(dtype_names()));
  sub->add_option("-o,--output", o->output, "candidates.json to write")
      ->required()
      ->check(output_file());
  sub->callback([o, argv] { run_search(*o, argv); });
}

}  // namespace asdm::cli
