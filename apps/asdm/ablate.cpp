// asdm ablate: block importance on validation prompts (analysis/ablation.h), resumable and
// shardable; `merge` joins shard files, `show` prints a file's table. Under torchrun every rank
// scores its shard and rank 0 merges them into the one file (distributed/group.h).
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include <CLI/CLI.hpp>

#include "analysis/ablation.h"
#include "analysis/ablation_ranks.h"
#include "analysis/subject.h"
#include "analysis/temporal.h"
#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "apps/asdm/job.h"
#include "apps/asdm/progress.h"
#include "core/error.h"
#include "core/log.h"
#include "model/runtime.h"

namespace asdm::cli {
namespace {

struct AblateCli {
  SubjectSource source;
  std::string output;
  AblationInputs inputs;
  int threads = 0, rows = 0, max_gap = 4;
  bool resume = false, temporal = false;
  std::vector<int> intervals{2, 3, 5};
  AblationOptions ablation;
};

void run_ablate(AblateCli o, const std::vector<std::string>& argv) {
  if (o.source.model.empty()) fail("--model is required");
  if (o.output.empty()) fail("-o/--output is required");
  read_ablation_inputs(o.inputs, o.ablation);
  std::optional<TemporalOptions> temporal;  // asdm ablate --temporal (analysis/temporal.h)
  if (o.temporal) temporal = temporal_options(o.ablation, o.max_gap, o.intervals);

  set_threads(o.threads);
  const auto job = join_job(o.source.device);
  if (temporal && job->world() > 1) fail("--temporal runs on one process (not under torchrun)");
  o.source.device = job->device();  // "cuda" is cuda:LOCAL_RANK on each rank of a job
  ensure_device(o.source.device);
  const AblationSubject subject = load_subject(o.source, note);
  if (std::isnan(o.ablation.sampler.guidance))
    o.ablation.sampler.guidance = subject.default_guidance();
  log::info("{}", subject.description());
  const RunContext context = make_run_context(argv, o.source.device);
  if (temporal) {
    temporal->sampler.guidance = o.ablation.sampler.guidance;
    std::fputs(temporal_table(run_temporal(subject, *temporal, context, o.output, o.resume,
                                           ablation_progress(subject, o.ablation)),
                              o.rows)
                   .c_str(),
               stdout);
    return log::info("wrote {}", o.output);
  }
  const auto doc = run_ablation_over_ranks(subject, o.ablation, context, o.output, o.resume, *job,
                                           ablation_progress(subject, o.ablation));
  if (!doc) return;  // rank 0 merged the ranks' shards and prints
  std::fputs(importance_table(*doc, o.rows).c_str(), stdout);
  log::info("wrote {}{}", o.output,
            job->world() > 1 ? fmt::format(" ({} ranks' shards merged)", job->world()) : "");
}

constexpr const char* kHelp =
    R"(Score every removable unit's importance: how far the teacher's output moves when the unit's branch is
bypassed (it keeps only its shortcut), on validation prompts.
  tier 1  the teacher samples each prompt once; at K of its states (timesteps spread over the
          trajectory) the bypassed model's epsilon is compared with the teacher's: normalised MSE
          (the score) and cosine. K forwards per prompt per unit, each from the unit on (the
          teacher's units before it are replayed): cheap; ranks units.
  tier 2  the bypassed model samples from the same noise; its final samples against the teacher's:
          1 - SSIM (the score) and PSNR, and on the proxy world attribute accuracy and proxy FID.
Scores are means over prompts with bootstrap 95% intervals; with --profile, the latency each removal
saves and importance per ms saved. importance.json is rewritten after every unit: an interrupted run
continues with --resume; --shard i/n takes every n-th unit from the i-th, and 'asdm ablate merge'
joins the shard files into the file one run would write (e.g. a Slurm array, one shard per GPU).
Under torchrun (torchrun --nproc-per-node N --no-python asdm ablate ...) each rank takes its shard
and rank 0 writes the merged -o itself; --resume continues each rank's shard file (-o.shardRofN).
Inputs: a proxy pipeline or a Stable Diffusion pipeline folder (or single file with --config) with
--prompts (one prompt per line; SD: its text encoders embed them and the empty negative prompt), or a
UNet with --embeddings: a safetensors file with encoder_hidden_states [N, tokens, dim] (and
class_labels, text_embeds, time_ids, timestep_cond as the config needs; negative_<name> [1, ...] for
guidance; metadata 'prompts': a JSON list of the N prompts).
--temporal scores reuse instead of removal (temporal.json): per unit, how much its branch output
changes between the sampler's model calls along the teacher's trajectories, and what reusing it
costs. Tier 1: the one-step cost (epsilon nMSE at the teacher's state with the unit reusing the
previous call's branch) at every call, one extra forward per unit per call (from the unit on);
tier 2: the unit alone on DeepCache's uniform policy at each of --intervals, 1 - SSIM and quality
of final samples. With --profile (taken at the sampling batch, guidance rows included), reuse cost
per ms saved; asdm cache-plan search turns the file into cache plans under a budget.)";

}  // namespace

void add_ablate(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<AblateCli>();
  o->ablation.sampler.guidance = std::numeric_limits<double>::quiet_NaN();
  auto* sub = app.add_subcommand("ablate", kHelp);
  sub->add_option("--model", o->source.model,
                  "Proxy pipeline folder, or a diffusers UNet / pipeline folder");
  sub->add_option("--prompts", o->source.prompts,
                  "Prompt file, one per line (proxy and Stable Diffusion pipelines)");
  sub->add_option("--config", o->source.config,
                  "Pipeline folder with the configs of a single-file --model");
  sub->add_option("--embeddings", o->source.embeddings,
                  "safetensors file of text embeddings (bare UNets; see above)");
  sub->add_option("--clip", o->source.clip,
                  "CLIP folder (SD pipelines): tier 2 adds each unit's CLIP-score drop");
  sub->add_option("--classifier", o->source.classifier,
                  "Proxy attribute classifier (default: MODEL/../classifier when present)");
  sub->add_option("--scheduler", o->source.scheduler,
                  "scheduler_config.json for a bare UNet (default: the pipeline's scheduler/, else "
                  "SD 1.x DDIM)");
  sub->add_option("--resolution", o->source.resolution,
                  "Stable Diffusion pipelines: image side in pixels (default: the UNet's "
                  "sample_size x the VAE's factor); profile and ablate at the same size")
      ->check(kPositive);
  sub->add_option("--tier", o->ablation.tier, "1, 2 or both")
      ->capture_default_str()
      ->check(one_of({"1", "2", "both"}));
  sub->add_option("--timesteps", o->ablation.timesteps, "Tier 1: states kept per prompt (K)")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--steps", o->ablation.sampler.steps, "Sampler steps")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--guidance", o->ablation.sampler.guidance,
                  "Classifier-free guidance scale (default: 1 for proxy pipelines, 7.5 otherwise)");
  sub->add_option("--sampler", o->ablation.sampler.sampler, "ddim, euler, dpm++2m or pndm")
      ->capture_default_str()
      ->check(one_of(sampler_names()));
  sub->add_option("--seed", o->ablation.seed,
                  "Noise seed (prompt i's noise depends on (seed, i) only)")
      ->capture_default_str();
  sub->add_option("--batch", o->ablation.batch, "Prompts per forward")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--prefix-chunk", o->ablation.prefix_chunk,
                  "Tier 1: units scored together, replaying the teacher's forward up to each "
                  "(1: no replay, here or in --temporal's probes; the same scores)")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--bootstrap", o->ablation.bootstrap, "Bootstrap resamples for the 95% intervals")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_option("--units", o->inputs.units,
                  "Only these units (comma-separated ids; default: every removable unit)")
      ->delimiter(',');
  sub->add_option("--group", o->inputs.group,
                  "Also ablate these units together (ids joined by ',' or '+'); repeatable");
  sub->add_option("--groups", o->inputs.groups_file,
                  "File of groups: one per line, ids separated by commas or spaces");
  sub->add_flag("--groups-only", o->ablation.groups_only,
                "Score the groups only, not single units");
  sub->add_option("--top", o->ablation.top,
                  "Tier 2 only on the N units with the highest tier-1 scores (with --tier both; or "
                  "--tier 2 --rank-from)")
      ->check(kNonNegative);
  sub->add_option("--rank-from", o->inputs.rank_from,
                  "importance.json whose tier-1 scores pick the --top units");
  sub->add_option("--profile", o->inputs.profile,
                  "profile.json of this model (asdm profile): latency saved per unit");
  sub->add_option("--shard", o->inputs.shard,
                  "i/n: score every n-th unit starting at the i-th (0-based)");
  sub->add_option("--cache-plan", o->inputs.cache_plan,
                  "cache_plan.json (asdm cache-plan): the teacher's and tier 2's runs sample with "
                  "it; tier 1 scores plain forwards at that run's states")
      ->check(CLI::ExistingFile);
  sub->add_flag("--resume", o->resume, "Continue the run in --output");
  sub->add_flag("--temporal", o->temporal,
                "Score reuse across model calls instead of removal (temporal.json; see above)");
  sub->add_option("--max-gap", o->max_gap,
                  "--temporal: relative change measured over gaps of 1..N calls")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--intervals", o->intervals,
                  "--temporal tier 2: DeepCache intervals per unit (comma-separated)")
      ->delimiter(',')
      ->capture_default_str();
  add_device_options(sub, o->source.device, o->source.dtype, "fp32, fp16 or bf16 (bare UNets)");
  sub->add_option("--threads", o->threads,
                  "Intra-op CPU threads (0: libtorch's default); results depend on it")
      ->capture_default_str();
  sub->add_option("--rows", o->rows, "Rows of the printed tables (0: all)")->capture_default_str();
  sub->add_option("-o,--output", o->output, "importance.json to write")->check(output_file());

  const auto files = add_ablate_files(*sub, argv);  // merge, show

  sub->callback([o, files, argv] {
    if (files.first->parsed() || files.second->parsed()) return;
    run_ablate(*o, argv);
  });
}

}  // namespace asdm::cli
