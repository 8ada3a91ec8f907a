// asdm proxy: the proxy world (DESIGN.md §7). `train` trains a pipeline from scratch, resumably;
// `prompts` writes a world's validation/test prompt sets.
#include <chrono>
#include <cstdio>
#include <fstream>

#include <CLI/CLI.hpp>

#include "apps/asdm/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "model/runtime.h"
#include "proxy/train.h"
#include "proxy/world.h"

namespace asdm::cli {
namespace {

struct ProxyTrainCli {
  std::string out;
  bool resume = false;
  int threads = 0;
  proxy::TrainOptions train;
};

std::string hms(double s) {
  const int t = static_cast<int>(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60) : fmt::format("{}:{:02}", t / 60, t % 60);
}

void run_train(const ProxyTrainCli& o) {
  set_threads(o.threads);
  double ema = -1;
  int first = -1;
  const int last = proxy::train_proxy(o.out, o.train, o.resume, [&](const proxy::StepLog& s) {
    if (first < 0) first = s.step - 1;
    ema = ema < 0 ? s.loss : 0.98 * ema + 0.02 * s.loss;
    if (log::level() > log::Level::kInfo) return;
    const double per = s.seconds / (s.step - first);
    std::fprintf(stderr, "\rtraining: step %d/%d  loss %.4f (avg %.4f)  lr %.2e  %.2f s/step  ETA %s   ", s.step,
                 s.steps, s.loss, ema, s.lr, per, hms(per * (s.steps - s.step)).c_str());
    if (s.step == s.steps) std::fprintf(stderr, "\n");
  });
  if (last < o.train.steps)
    log::info("stopped at step {}; continue with --resume", last);
  else
    log::info("wrote the pipeline to {} (log: {}/train.jsonl)", o.out, o.out);
}

}  // namespace

void add_proxy(CLI::App& app, const std::vector<std::string>& argv) {
  auto* proxy = app.add_subcommand("proxy", "The proxy world: a small text-to-image problem asdm trains and scores itself");
  proxy->require_subcommand(1);

  auto t = std::make_shared<ProxyTrainCli>();
  auto* train = proxy->add_subcommand(
      "train",
      "Train a proxy pipeline (text encoder + SD 1.x-topology UNet) from scratch on the world's endless\n"
      "stream, and write it as a diffusers-like folder (model_index.json, unet/, text_encoder/, tokenizer/,\n"
      "scheduler/, proxy.json) with train.jsonl and checkpoint/. Interrupted runs continue with --resume:\n"
      "data and noise are functions of (seed, step), so the result is the same as an uninterrupted run\n"
      "with the same thread count.");
  train->add_option("--out", t->out, "Output folder")->required();
  train->add_option("--world", t->train.world, "default or test")->capture_default_str()->check(
      CLI::IsMember({"default", "test"}));
  train->add_option("--steps", t->train.steps, "Training steps")->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--batch", t->train.batch, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--lr", t->train.lr, "Peak learning rate (AdamW)")->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--warmup", t->train.warmup, "Linear warm-up steps")->capture_default_str()->check(CLI::NonNegativeNumber);
  train->add_option("--cond-drop", t->train.cond_drop, "Fraction of captions dropped (unconditional branch)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.99));
  train->add_option("--prediction", t->train.prediction, "v_prediction or epsilon")
      ->capture_default_str()
      ->check(CLI::IsMember({"v_prediction", "epsilon"}));
  train->add_option("--seed", t->train.seed, "Seed of the data stream, the initialisation and the noise")->capture_default_str();
  train->add_option("--checkpoint-every", t->train.checkpoint_every, "Steps between checkpoints")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--stop-after", t->train.stop_after, "Stop after this step as if interrupted (for testing --resume)");
  train->add_flag("--resume", t->resume, "Continue the run in --out from its checkpoint");
  train->add_option("--threads", t->threads, "Intra-op CPU threads (0: libtorch's default); results depend on it")
      ->capture_default_str();
  train->callback([t] { run_train(*t); });

  auto pw = std::make_shared<std::string>("default");
  auto seed = std::make_shared<uint64_t>(1001);
  auto count = std::make_shared<int>(200);
  auto out = std::make_shared<std::string>();
  auto* prompts = proxy->add_subcommand("prompts", "Write a prompt set of distinct single-object captions, one per line");
  prompts->add_option("--world", *pw, "default or test")->capture_default_str();
  prompts->add_option("--seed", *seed, "Seed (validation 1001, test 2002)")->capture_default_str();
  prompts->add_option("--count", *count, "Captions")->capture_default_str()->check(CLI::PositiveNumber);
  prompts->add_option("-o,--output", *out, "File to write")->required();
  prompts->callback([pw, seed, count, out] {
    std::string text;
    for (const auto& c : proxy::prompt_set(proxy::world_spec(*pw), *seed, *count)) text += c + "\n";
    write_file_atomic(*out, text);
    log::info("wrote {} captions to {}", *count, *out);
  });
  (void)argv;
}

}  // namespace asdm::cli
