#pragma once
// The progress lines of the long-running stages, on stderr at info level: rewritten in place on a
// terminal, a line now and then in a log. Shared by each command and asdm demo, which runs the
// same stages.
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include <unistd.h>

#include <fmt/format.h>

#include "analysis/ablation.h"
#include "analysis/subject.h"
#include "apps/asdm/cli_util.h"
#include "bench/bench.h"
#include "core/log.h"
#include "eval/eval_run.h"
#include "incubation/incubate.h"
#include "proxy/train.h"

namespace asdm::cli {

// asdm eval: a line per batch with the ETA, rewritten in place on a terminal, every 10th in a log.
inline std::function<void(const EvalProgress&)> eval_progress(const char* label) {
  return [label, tty = ::isatty(2) != 0](const EvalProgress& p) {
    if (log::level() > log::Level::kInfo) return;
    const bool last = p.batches_done == p.batches_total;
    if (!tty && !last && (p.batches_done == 0 || p.batches_done % 10 != 0)) return;
    const std::string eta = p.eta_s >= 0 ? ", ETA " + hms(p.eta_s) : "";
    std::fprintf(stderr, "%s%s: batch %d/%d, %lld/%lld images (%s%s)%s", tty ? "\r" : "", label,
                 p.batches_done, p.batches_total, static_cast<long long>(p.images_done),
                 static_cast<long long>(p.images_total), hms(p.elapsed_s).c_str(), eta.c_str(),
                 tty && !last ? "" : "\n");
  };
}

// asdm incubate: a line per phase boundary, rewritten in place on a terminal (every 0.5 s), every
// 15 s in a log.
inline std::function<void(const IncubateProgress&)> incubate_progress() {
  struct State {
    bool tty = ::isatty(2) != 0;
    std::chrono::steady_clock::time_point last =
        std::chrono::steady_clock::now() - std::chrono::seconds(1);
    int first = -1;
    std::string phase;
  };
  return [st = std::make_shared<State>()](const IncubateProgress& p) {
    if (st->first < 0) st->first = p.global - 1;
    if (log::level() > log::Level::kInfo) return;
    const auto now = std::chrono::steady_clock::now();
    const bool boundary = p.step == p.steps || p.phase != st->phase;
    if (!boundary && now - st->last < std::chrono::milliseconds(st->tty ? 500 : 15000)) return;
    st->last = now;
    st->phase = p.phase;
    const double per = p.seconds / (p.global - st->first);
    std::fprintf(stderr,
                 "%sincubating: %s (%d/%d) step %d/%d  total %d/%d  loss %.4f (task %.4f out "
                 "%.4f feat %.4f sem %.4f)  %.2f s/step  ETA %s   %s",
                 st->tty ? "\r" : "", p.phase.c_str(), p.phase_index + 1, p.phases, p.step, p.steps,
                 p.global, p.total, p.losses.at("total"), p.losses.at("task"),
                 p.losses.at("output"), p.losses.at("feature"), p.losses.at("semantic"), per,
                 hms(per * (p.total - p.global)).c_str(),
                 !st->tty || p.step == p.steps ? "\n" : "");
  };
}

// asdm proxy train: step, loss (and its running average), lr, s/step and ETA, twice a second.
inline std::function<void(const proxy::StepLog&)> train_progress() {
  struct State {
    double ema = -1;
    int first = -1;
    std::chrono::steady_clock::time_point last =
        std::chrono::steady_clock::now() - std::chrono::seconds(1);
  };
  return [st = std::make_shared<State>()](const proxy::StepLog& s) {
    if (st->first < 0) st->first = s.step - 1;
    st->ema = st->ema < 0 ? s.loss : 0.98 * st->ema + 0.02 * s.loss;
    if (log::level() > log::Level::kInfo) return;
    const auto now = std::chrono::steady_clock::now();
    if (s.step != s.steps && now - st->last < std::chrono::milliseconds(500)) return;
    st->last = now;
    const double per = s.seconds / (s.step - st->first);
    std::fprintf(
        stderr, "\rtraining: step %d/%d  loss %.4f (avg %.4f)  lr %.2e  %.2f s/step  ETA %s   ",
        s.step, s.steps, s.loss, st->ema, s.lr, per, hms(per * (s.steps - s.step)).c_str());
    if (s.step == s.steps) std::fprintf(stderr, "\n");
  };
}

// asdm proxy train-classifier: step and loss every 20 steps.
inline std::function<void(int, int, double)> classifier_progress() {
  return [](int step, int steps, double loss) {
    if (log::level() > log::Level::kInfo || (step % 20 != 0 && step != steps)) return;
    std::fprintf(stderr, "\rclassifier: step %d/%d  loss %.4f   ", step, steps, loss);
    if (step == steps) std::fprintf(stderr, "\n");
  };
}

// asdm ablate: the teacher pass, then one line per scored item with elapsed time and ETA.
inline std::function<void(const AblationProgress&)> ablation_progress(
    const AblationSubject& subject, const AblationOptions& o) {
  const bool show = log::level() <= log::Level::kInfo, tty = ::isatty(2);
  const int prompts = subject.num_prompts(), steps = o.sampler.steps;
  return [=](const AblationProgress& p) {
    if (!show) return;
    if (p.tier == "teacher") {
      const std::string done =
          p.resumed ? fmt::format("; {} of {} items already done", p.resumed, p.total) : "";
      std::fprintf(stderr, "teacher: sampling %d prompts, %d steps%s\n", prompts, steps,
                   done.c_str());
      return;
    }
    const int mine = p.done - p.resumed;
    const double eta = mine > 0 ? p.seconds / mine * (p.total - p.done) : 0;
    const std::string line = fmt::format("ablating: {}/{}  {} {}  elapsed {}  ETA {}", p.done,
                                         p.total, p.tier, p.id, hms(p.seconds), hms(eta));
    if (tty)
      std::fprintf(stderr, "\r%-110s%s", line.c_str(), p.done == p.total ? "\n" : "");
    else
      std::fprintf(stderr, "%s\n", line.c_str());
  };
}

// asdm bench: what the run will do once the models are loaded, then each pass's count.
inline std::function<void(const std::string&, int, int)> bench_progress(size_t models,
                                                                        const BenchOptions& o) {
  auto last_stage = std::make_shared<std::string>();
  const bool tty = ::isatty(2);
  const int runs = o.runs, pipeline_runs = o.pipeline_runs, quality = o.quality_prompts;
  return [=](const std::string& stage, int done, int total) {
    if (log::level() > log::Level::kInfo) return;
    if (last_stage->empty())  // the models were found and loaded: say what the run will do
      log::info(
          "benchmarking {} models: {} interleaved UNet rounds, {} pipeline rounds, quality on {} "
          "prompts",
          models, runs, pipeline_runs, quality);
    if (!tty && done != total && stage == *last_stage) return;
    *last_stage = stage;
    const char* what = stage == "unet"       ? "UNet forwards (interleaved)"
                       : stage == "pipeline" ? "pipeline runs (interleaved)"
                                             : "quality: models sampled";
    std::fprintf(stderr, "%sbench: %s %d/%d%s", tty ? "\r" : "", what, done, total,
                 !tty || done == total ? "\n" : "");
  };
}

}  // namespace asdm::cli
