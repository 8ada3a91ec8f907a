// asdm incubate: trains a built student back (progressive incubation with SAS losses,
// incubation/incubate.h), then compares teacher, student as built and student as trained on the
// proxy world's quality numbers and on teacher-relative PSNR/SSIM from the same noise.
#include <chrono>
#include <cstdio>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "bench/bench.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "incubation/incubate.h"
#include "model/runtime.h"
#include "proxy/classifier.h"
#include "proxy/metrics.h"
#include "proxy/pipeline.h"
#include "proxy/world.h"

namespace asdm::cli {
namespace {

namespace fs = std::filesystem;

struct IncubateCli {
  std::string teacher, student, schedule, output, classifier, eval_prompts;
  std::vector<std::string> weights;
  IncubateOptions inc;
  bool resume = false, no_eval = false;
  int threads = 0, eval_n = 100, eval_steps = 25;
};

// Quality of teacher, student as built and student as trained on the same prompts and noise
// (bench/bench.h's compare_quality; PSNR/SSIM against the teacher's samples).
nlohmann::json evaluate_all(const IncubateCli& o, const fs::path& trained) {
  const auto world = proxy::ProxyPipeline::load(o.teacher).world;
  const std::vector<std::string> prompts =
      o.eval_prompts.empty() ? proxy::prompt_set(world, 1001, o.eval_n) : proxy::read_prompts(o.eval_prompts);
  std::unique_ptr<proxy::AttributeClassifier> classifier;
  if (!o.classifier.empty()) classifier = proxy::AttributeClassifier::load(o.classifier);
  SamplerOptions so;
  so.steps = o.eval_steps;
  const std::vector<std::string> names = {"teacher", "student_built", "student_incubated"};
  const auto q = compare_quality({o.teacher, o.student, trained}, prompts, classifier.get(), so, o.inc.seed, nullptr,
                                 [&](int done, int) { log::info("evaluated {} on {} prompts", names[done - 1], prompts.size()); });
  nlohmann::json out = nlohmann::json::object();
  for (size_t k = 0; k < names.size(); ++k) {
    nlohmann::json j = to_json(q[k]);
    j["psnr_vs_teacher_db"] = j["psnr_vs_reference_db"];
    j["ssim_vs_teacher"] = j["ssim_vs_reference"];
    j.erase("psnr_vs_reference_db");
    j.erase("ssim_vs_reference");
    out[names[k]] = j;
  }
  return out;
}

void run_incubate(IncubateCli o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  for (const auto& kv : o.weights) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos) fail("--weights takes name=value pairs (task, output, feature, semantic), got '{}'", kv);
    try {
      o.inc.weights[kv.substr(0, eq)] = std::stod(kv.substr(eq + 1));
    } catch (const std::exception&) {
      fail("--weights: '{}' is not a number", kv.substr(eq + 1));
    }
  }
  if (o.schedule.empty()) o.schedule = (fs::path(o.student) / "schedule.json").string();
  if (!fs::exists(o.schedule)) fail("no schedule {} (asdm build writes one beside the student; or pass --schedule)", o.schedule);
  const bool tty = ::isatty(2);
  auto last_print = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  int first = -1;
  std::string phase;
  const IncubateResult r = incubate(o.teacher, o.student, o.schedule, o.output, o.inc, o.resume, [&](const IncubateProgress& p) {
    if (first < 0) first = p.global - 1;
    if (log::level() > log::Level::kInfo) return;
    const auto now = std::chrono::steady_clock::now();
    const bool boundary = p.step == p.steps || p.phase != phase;
    if (!boundary && now - last_print < std::chrono::milliseconds(tty ? 500 : 15000)) return;
    last_print = now;
    phase = p.phase;
    const double per = p.seconds / (p.global - first);
    std::fprintf(stderr, "%sincubating: %s (%d/%d) step %d/%d  total %d/%d  loss %.4f (task %.4f out %.4f feat %.4f sem %.4f)  %.2f s/step  ETA %s   %s",
                 tty ? "\r" : "", p.phase.c_str(), p.phase_index + 1, p.phases, p.step, p.steps, p.global, p.total,
                 p.losses.at("total"), p.losses.at("task"), p.losses.at("output"), p.losses.at("feature"),
                 p.losses.at("semantic"), per, hms(per * (p.total - p.global)).c_str(),
                 !tty || p.step == p.steps ? "\n" : "");
  });
  if (!r.complete) {
    log::info("stopped at global step {} of {}; continue with --resume", r.global_step, r.total_steps);
    return;
  }
  nlohmann::json j = make_artifact("incubation", 1, make_run_context(argv, o.inc.device));
  j["teacher"] = o.teacher;
  j["student"] = o.student;
  j["schedule"] = o.schedule;
  j["output"] = o.output;
  j["steps"] = r.total_steps;
  j["seconds"] = r.seconds;
  j["log"] = (fs::path(o.output) / "incubation.jsonl").string();
  if (!o.no_eval && fs::exists(fs::path(o.teacher) / "proxy.json")) {
    j["eval"] = evaluate_all(o, o.output);
    std::printf("%-20s %9s %12s %9s %10s %8s\n", "", "mean acc", "all correct", "FID", "PSNR (dB)", "SSIM");
    for (const char* k : {"teacher", "student_built", "student_incubated"}) {
      const auto& e = j["eval"][k];
      auto num = [&](const char* f, const char* fmtstr) {
        return e.contains(f) ? fmt::format(fmt::runtime(fmtstr), e[f].get<double>()) : std::string("-");
      };
      std::printf("%-20s %9s %12s %9s %10s %8s\n", k, num("mean_attribute_accuracy", "{:.3f}").c_str(),
                  num("all_attributes_correct", "{:.3f}").c_str(), num("proxy_fid", "{:.1f}").c_str(),
                  std::string(k) == "teacher" ? "-" : num("psnr_vs_teacher_db", "{:.2f}").c_str(),
                  std::string(k) == "teacher" ? "-" : num("ssim_vs_teacher", "{:.3f}").c_str());
    }
  }
  write_json_atomic(fs::path(o.output) / "incubation.json", j);
  log::info("wrote the incubated student to {} ({} steps in {}; log {})", o.output, r.total_steps, hms(r.seconds),
            j["log"].get<std::string>());
}

}  // namespace

void add_incubate(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<IncubateCli>();
  auto* sub = app.add_subcommand(
      "incubate",
      "Train a student (asdm build) back against its frozen teacher with progressive incubation: each module of\n"
      "schedule.json (a block with edits) is first trained inside the teacher (a hybrid network where only that\n"
      "block is the student's and trainable), in the schedule's order, then the assembled student is fine-tuned.\n"
      "Loss (SAS): task MSE + output distillation + feature distillation at the block outputs (normalised by\n"
      "the teacher's) + alignment of the cross-attention maps; each term is logged apart in incubation.jsonl.\n"
      "Checkpoints every --checkpoint-every steps; --resume continues exactly (same thread count). A proxy\n"
      "teacher trains on the proxy world's stream and ends with teacher / built / incubated quality numbers.\n"
      "Measured on the proxy world: at a few hundred steps --one-shot trained a better student than the\n"
      "schedule's module split, which leaves the assembly little of the budget (README, Incubation).");
  sub->add_option("--teacher", o->teacher, "The teacher (a proxy pipeline, or a UNet or Stable Diffusion pipeline folder with --data)")->required();
  sub->add_option("--student", o->student, "The student folder asdm build wrote (left unchanged)")->required();
  sub->add_option("--schedule", o->schedule, "schedule.json (default: the student folder's)");
  sub->add_option("-o,--output", o->output, "Output folder: the incubated student, log and checkpoint")->required();
  sub->add_option("--steps", o->inc.total_steps, "Total steps, every phase scaled to it (0: the schedule's)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--one-shot", o->inc.one_shot, "No module phases: the assembled student for the whole budget");
  sub->add_option("--batch", o->inc.batch, "Batch size (0: the schedule's)")->capture_default_str();
  sub->add_option("--lr", o->inc.lr, "Learning rate (0: the schedule's)")->capture_default_str();
  sub->add_option("--lr-schedule", o->inc.lr_schedule, "constant or cosine (default: the schedule's)")
      ->check(CLI::IsMember({"constant", "cosine"}));
  sub->add_option("--weights", o->weights, "Loss weights, e.g. output=0,feature=0,semantic=0 (default: the schedule's)")
      ->delimiter(',');
  sub->add_option("--ema", o->inc.ema, "EMA decay of the assembled student's weights (0: off)")->capture_default_str();
  sub->add_option("--grad-clip", o->inc.grad_clip, "Gradient-norm clip (0: the schedule's)")->capture_default_str();
  sub->add_option("--data", o->inc.data, "latents.safetensors (latents, encoder_hidden_states[, class_labels, ...]) for a non-proxy teacher; "
                  "asdm latents makes one from images with captions");
  sub->add_option("--checkpoint-every", o->inc.checkpoint_every, "Steps between checkpoints")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--seed", o->inc.seed, "Seed of data, noise and timesteps")->capture_default_str();
  sub->add_option("--device", o->inc.device, "cpu or cuda")->capture_default_str();
  sub->add_flag("--amp", o->inc.amp, "CUDA: mixed precision (bfloat16 autocast for the forwards; float32 weights)");
  sub->add_option("--threads", o->threads, "Intra-op CPU threads (0: libtorch's default); results depend on it")
      ->capture_default_str();
  sub->add_flag("--resume", o->resume, "Continue the run in -o from its checkpoint");
  sub->add_option("--stop-after", o->inc.stop_after, "Stop after this global step as if interrupted (testing)");
  sub->add_option("--classifier", o->classifier, "Proxy attribute classifier for the final eval (accuracy, FID)");
  sub->add_option("--eval-prompts", o->eval_prompts, "Prompt file for the final eval (default: --eval-n validation prompts)");
  sub->add_option("--eval-n", o->eval_n, "Validation prompts for the final eval")->capture_default_str();
  sub->add_option("--eval-steps", o->eval_steps, "Sampler steps for the final eval")->capture_default_str();
  sub->add_flag("--no-eval", o->no_eval, "Skip the final eval");
  sub->callback([o, argv] { run_incubate(*o, argv); });
}

}  // namespace asdm::cli
