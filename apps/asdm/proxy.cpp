// asdm proxy: the proxy world (DESIGN.md §7). `train` trains a pipeline from scratch, resumably;
// `prompts` writes a world's validation/test prompt sets.
#include <chrono>
#include <cstdio>
#include <fstream>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "apps/asdm/progress.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/image_grid.h"
#include "core/log.h"
#include "core/prompts.h"
#include "model/checkpoint.h"
#include "model/runtime.h"
#include "model/sampler.h"
#include "proxy/classifier.h"
#include "proxy/metrics.h"
#include "proxy/pipeline.h"
#include "proxy/records.h"
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

void run_train(const ProxyTrainCli& o) {
  set_threads(o.threads);
  const int last = proxy::train_proxy(o.out, o.train, o.resume, train_progress());
  if (last < o.train.steps)
    log::info("stopped at step {}; continue with --resume", last);
  else
    log::info("wrote the pipeline to {} (log: {}/train.jsonl)", o.out, o.out);
}

struct ClassifierCli {
  std::string world = "default", out;
  int threads = 0;
  proxy::AttributeClassifier::TrainOptions train;
};

void run_train_classifier(const ClassifierCli& o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  const auto rec = proxy::train_classifier(o.world, o.out, o.train.steps, o.train.seed,
                                           make_run_context(argv, "cpu"), classifier_progress());
  std::printf("held-out accuracy (all attributes right, 1000 images): %.4f\n",
              rec.holdout_accuracy);
}

}  // namespace

void add_proxy(CLI::App& app, const std::vector<std::string>& argv) {
  auto* proxy = app.add_subcommand(
      "proxy", "The proxy world: a small text-to-image problem asdm trains and scores itself");
  proxy->require_subcommand(1);

  auto t = std::make_shared<ProxyTrainCli>();
  auto* train = proxy->add_subcommand("train",
                                      "Train a proxy pipeline (text encoder + SD 1.x-topology "
                                      "UNet) from scratch on the world's endless\n"
                                      "stream, and write it as a diffusers-like folder "
                                      "(model_index.json, unet/, text_encoder/, tokenizer/,\n"
                                      "scheduler/, proxy.json) with train.jsonl and checkpoint/. "
                                      "Interrupted runs continue with --resume:\n"
                                      "data and noise are functions of (seed, step), so the result "
                                      "is the same as an uninterrupted run\n"
                                      "with the same thread count.");
  train->add_option("--out", t->out, "Output folder")->required()->check(output_folder());
  train->add_option("--world", t->train.world, "default or test")
      ->capture_default_str()
      ->check(one_of({"default", "test"}));
  train->add_option("--steps", t->train.steps, "Training steps")
      ->capture_default_str()
      ->check(kPositive);
  train->add_option("--batch", t->train.batch, "Batch size")
      ->capture_default_str()
      ->check(kPositive);
  train->add_option("--lr", t->train.lr, "Peak learning rate (AdamW)")
      ->capture_default_str()
      ->check(kPositive);
  train->add_option("--warmup", t->train.warmup, "Linear warm-up steps")
      ->capture_default_str()
      ->check(kNonNegative);
  train
      ->add_option("--cond-drop", t->train.cond_drop,
                   "Fraction of captions dropped (unconditional branch)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.99));
  train->add_option("--prediction", t->train.prediction, "v_prediction or epsilon")
      ->capture_default_str()
      ->check(one_of({"v_prediction", "epsilon"}));
  train
      ->add_option("--seed", t->train.seed,
                   "Seed of the data stream, the initialisation and the noise")
      ->capture_default_str();
  train->add_option("--checkpoint-every", t->train.checkpoint_every, "Steps between checkpoints")
      ->capture_default_str()
      ->check(kPositive);
  train->add_option("--stop-after", t->train.stop_after,
                    "Stop after this step as if interrupted (for testing --resume)");
  train->add_flag("--resume", t->resume, "Continue the run in --out from its checkpoint");
  train
      ->add_option("--threads", t->threads,
                   "Intra-op CPU threads (0: libtorch's default); results depend on it")
      ->capture_default_str();
  train->callback([t] { run_train(*t); });

  auto pw = std::make_shared<std::string>("default");
  auto seed = std::make_shared<uint64_t>(1001);
  auto count = std::make_shared<int>(200);
  auto out = std::make_shared<std::string>();
  auto* prompts = proxy->add_subcommand(
      "prompts", "Write a prompt set of distinct single-object captions, one per line");
  prompts->add_option("--world", *pw, "default or test")->capture_default_str();
  prompts->add_option("--seed", *seed, "Seed (validation 1001, test 2002)")->capture_default_str();
  prompts->add_option("--count", *count, "Captions")->capture_default_str()->check(kPositive);
  prompts->add_option("-o,--output", *out, "File to write")->required()->check(output_file());
  prompts->callback([pw, seed, count, out] {
    std::string text;
    for (const auto& c : proxy::prompt_set(proxy::world_spec(*pw), *seed, *count)) text += c + "\n";
    write_file_atomic(*out, text);
    log::info("wrote {} captions to {}", *count, *out);
  });
  auto c = std::make_shared<ClassifierCli>();
  auto* tc = proxy->add_subcommand(
      "train-classifier",
      "Train the attribute classifier (shape, colour, position) on clean images of the world and "
      "report its\n"
      "held-out accuracy (every attribute right, 1000 images of another seed).");
  tc->add_option("--world", c->world, "default or test")->capture_default_str();
  tc->add_option("--out", c->out, "Output folder")->required()->check(output_folder());
  tc->add_option("--steps", c->train.steps, "Training steps")
      ->capture_default_str()
      ->check(kPositive);
  tc->add_option("--seed", c->train.seed, "Seed")->capture_default_str();
  tc->add_option("--threads", c->threads, "Intra-op CPU threads (0: libtorch's default)")
      ->capture_default_str();
  tc->callback([c, argv] { run_train_classifier(*c, argv); });

  auto ex_model = std::make_shared<std::string>(), ex_out = std::make_shared<std::string>();
  auto ex_dtype = std::make_shared<std::string>("float16");
  auto* ex = proxy->add_subcommand(
      "export", "Copy a trained proxy pipeline (no checkpoint, no log) with the UNet in --dtype");
  ex->add_option("--model", *ex_model, "Proxy pipeline folder")->required();
  ex->add_option("--out", *ex_out, "Output folder")->required()->check(output_folder());
  ex->add_option("--dtype", *ex_dtype, "UNet weights: float32, float16 or bfloat16")
      ->capture_default_str()
      ->check(one_of(dtype_names()));
  ex->callback([ex_model, ex_out, ex_dtype] {
    proxy::ProxyPipeline::load(*ex_model).save(*ex_out, *ex_dtype);
    log::info("wrote {}", *ex_out);
  });

  add_proxy_eval(*proxy, argv);
}

}  // namespace asdm::cli
