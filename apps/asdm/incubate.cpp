// asdm incubate: trains a built student back (progressive incubation with SAS losses,
// incubation/incubate.h), then compares teacher, student as built and student as trained on the
// proxy world's quality numbers and on teacher-relative PSNR/SSIM from the same noise.
#include <chrono>
#include <cstdio>

#include <unistd.h>

#include <memory>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "apps/asdm/job.h"
#include "apps/asdm/progress.h"
#include "bench/incubation_eval.h"
#include "core/error.h"
#include "core/log.h"
#include "incubation/incubate.h"
#include "model/runtime.h"

namespace asdm::cli {
namespace {

namespace fs = std::filesystem;

struct IncubateCli {
  std::string teacher, student, schedule, output;
  std::vector<std::string> weights;
  IncubateOptions inc;
  IncubationEvalOptions eval;
  bool resume = false, no_eval = false;
  int threads = 0;
};

void run_incubate(IncubateCli o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  for (const auto& kv : o.weights) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos)
      fail("--weights takes name=value pairs (task, output, feature, semantic), got '{}'", kv);
    try {
      o.inc.weights[kv.substr(0, eq)] = std::stod(kv.substr(eq + 1));
    } catch (const std::exception&) {
      fail("--weights: '{}' is not a number", kv.substr(eq + 1));
    }
  }
  const std::unique_ptr<dist::Group> job = join_job(o.inc.device);
  o.inc.device = job->device();  // "cuda" is cuda:LOCAL_RANK on each rank of a job
  o.inc.group = job.get();
  o.inc.context = make_run_context(argv, o.inc.device);
  const IncubateResult r =
      incubate(o.teacher, o.student, o.schedule, o.output, o.inc, o.resume, incubate_progress());
  if (!job->leader()) return;  // rank 0 evaluates and reports
  if (!r.complete) {
    log::info("stopped at global step {} of {}; continue with --resume", r.global_step,
              r.total_steps);
    return;
  }
  const bool sd = fs::exists(fs::path(o.teacher) / "model_index.json");
  if (!o.no_eval && (sd || fs::exists(fs::path(o.teacher) / "proxy.json"))) {
    o.eval.seed = o.inc.seed;
    o.eval.device = o.inc.device;
    const IncubationRecord r = evaluate_incubation(
        o.output, o.eval,
        [](const std::string& k, int n) { log::info("evaluated {} on {} prompts", k, n); });
    std::fputs(incubation_eval_table(r, sd).c_str(), stdout);
  }
  log::info("wrote the incubated student to {} ({} steps in {}; log {})", o.output, r.total_steps,
            hms(r.seconds), (fs::path(o.output) / "incubation.jsonl").string());
}

constexpr const char* kHelp =
    R"(Train a student (asdm build) back against its frozen teacher with progressive incubation: each module of
schedule.json (a block with edits) is first trained inside the teacher (a hybrid network where only that
block is the student's and trainable), in the schedule's order, then the assembled student is fine-tuned.
Loss (SAS): task MSE + output distillation + feature distillation at the block outputs (normalised by
the teacher's) + alignment of the cross-attention maps; each term is logged apart in incubation.jsonl.
Checkpoints every --checkpoint-every steps; --resume continues exactly (same thread count). A proxy
teacher trains on the proxy world's stream and ends with teacher / built / incubated quality numbers;
a Stable Diffusion teacher ends with each UNet in its pipeline: PSNR/SSIM against the teacher's images,
with --clip the CLIP score, with --inception the FID against the teacher's images.
Measured on the proxy world: at a few hundred steps --one-shot trained a better student than the
schedule's module split, which leaves the assembly little of the budget (README, Incubation).

Several processes (data parallel over c10d: Gloo on CPUs, NCCL on GPUs): launch with torchrun, e.g.
  torchrun --nproc-per-node 2 --no-python asdm incubate --teacher T --student S -o OUT
--batch is the global batch: each step's examples are split over the ranks and --accumulate
micro-batches, and the result does not depend on the split (up to float rounding). Rank 0 writes the
log, checkpoints and the student; --resume works with another number of ranks. incubation.jsonl
records samples/s and rank 0's peak tensor memory per step (README, Scale out).)";

}  // namespace

void add_incubate(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<IncubateCli>();
  auto* sub = app.add_subcommand("incubate", kHelp);
  sub->add_option("--teacher", o->teacher,
                  "The teacher (a proxy pipeline, or a UNet or Stable Diffusion pipeline folder "
                  "or a single-file checkpoint (.safetensors or .ckpt) with --data)")
      ->required();
  sub->add_option("--student", o->student, "The student folder asdm build wrote (left unchanged)")
      ->required();
  sub->add_option("--schedule", o->schedule, "schedule.json (default: the student folder's)");
  sub->add_option("-o,--output", o->output,
                  "Output folder: the incubated student, log and checkpoint")
      ->required()
      ->check(output_folder());
  sub->add_option("--steps", o->inc.total_steps,
                  "Total steps, every phase scaled to it (0: the schedule's)")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_flag("--one-shot", o->inc.one_shot,
                "No module phases: the assembled student for the whole budget");
  sub->add_option("--batch", o->inc.batch,
                  "Global batch size, over all ranks and micro-batches (0: the schedule's)")
      ->capture_default_str();
  sub->add_option("--accumulate", o->inc.accumulate,
                  "Micro-batches per step and rank (gradient accumulation: same result, less "
                  "memory)")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_flag("--activation-checkpointing", o->inc.recompute,
                "Recompute each unit's activations in backward instead of keeping them (less "
                "memory, one more forward; same gradients)");
  sub->add_option("--lr", o->inc.lr, "Learning rate (0: the schedule's)")->capture_default_str();
  sub->add_option("--lr-schedule", o->inc.lr_schedule,
                  "constant or cosine (default: the schedule's)")
      ->check(one_of({"constant", "cosine"}));
  sub->add_option("--weights", o->weights,
                  "Loss weights, e.g. output=0,feature=0,semantic=0 (default: the schedule's)")
      ->delimiter(',');
  sub->add_option("--ema", o->inc.ema, "EMA decay of the assembled student's weights (0: off)")
      ->capture_default_str();
  sub->add_option("--grad-clip", o->inc.grad_clip, "Gradient-norm clip (0: the schedule's)")
      ->capture_default_str();
  sub->add_option("--data", o->inc.data,
                  "latents.safetensors (latents, encoder_hidden_states[, class_labels, ...]) for a "
                  "non-proxy teacher; "
                  "asdm latents makes one from images with captions");
  sub->add_option("--checkpoint-every", o->inc.checkpoint_every, "Steps between checkpoints")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--seed", o->inc.seed, "Seed of data, noise and timesteps")
      ->capture_default_str();
  sub->add_option("--device", o->inc.device, "cpu or cuda")->capture_default_str();
  sub->add_flag("--amp", o->inc.amp,
                "CUDA: mixed precision (bfloat16 autocast for the forwards; float32 weights)");
  sub->add_option("--teacher-dtype", o->inc.teacher_dtype,
                  "The frozen teacher's weights: float32, float16 or bfloat16 (half its memory)")
      ->capture_default_str();
  sub->add_option("--threads", o->threads,
                  "Intra-op CPU threads (0: libtorch's default); results depend on it")
      ->capture_default_str();
  sub->add_flag("--resume", o->resume, "Continue the run in -o from its checkpoint");
  sub->add_option("--stop-after", o->inc.stop_after,
                  "Stop after this global step as if interrupted (testing)");
  sub->add_option("--die-at-step", o->inc.die_at,
                  "Kill this process (SIGKILL) after this global step (testing a lost rank)");
  sub->add_option("--classifier", o->eval.classifier,
                  "Proxy attribute classifier for the final eval (accuracy, FID)");
  sub->add_option("--eval-prompts", o->eval.prompts,
                  "Prompt file for the final eval (default: --eval-n validation prompts)");
  sub->add_option("--eval-n", o->eval.n,
                  "Validation prompts for the final eval (Stable Diffusion: at most the 16 "
                  "built-in ones, or those of --eval-prompts)")
      ->capture_default_str();
  sub->add_option("--eval-steps", o->eval.steps, "Sampler steps for the final eval")
      ->capture_default_str();
  sub->add_option("--eval-guidance", o->eval.guidance,
                  "Guidance of the final eval (default: 1 on the proxy world, 7.5 for Stable "
                  "Diffusion)");
  sub->add_option(
      "--clip", o->eval.clip,
      "Stable Diffusion: a CLIP folder (transformers CLIPModel or OpenCLIP) for the final "
      "eval's CLIP score");
  sub->add_option("--inception", o->eval.inception,
                  "Stable Diffusion: FID Inception-v3 weights for the final eval's FID against the "
                  "teacher's images (needs more --eval-n than --fid-dims)");
  sub->add_option("--fid-dims", o->eval.fid_dims, "Inception feature layer of the final eval's FID")
      ->capture_default_str();
  sub->add_flag("--no-eval", o->no_eval, "Skip the final eval");
  sub->callback([o, argv] { run_incubate(*o, argv); });
}

}  // namespace asdm::cli
