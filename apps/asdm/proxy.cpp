// asdm proxy: the proxy world (DESIGN.md §7). `train` trains a pipeline from scratch, resumably;
// `prompts` writes a world's validation/test prompt sets.
#include <chrono>
#include <cstdio>
#include <fstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "model/checkpoint.h"
#include "model/runtime.h"
#include "model/sampler.h"
#include "core/artifact.h"
#include "proxy/classifier.h"
#include "proxy/image_grid.h"
#include "proxy/metrics.h"
#include "proxy/pipeline.h"
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
  double ema = -1;
  int first = -1;
  const int last = proxy::train_proxy(o.out, o.train, o.resume, [&](const proxy::StepLog& s) {
    if (first < 0) first = s.step - 1;
    ema = ema < 0 ? s.loss : 0.98 * ema + 0.02 * s.loss;
    if (log::level() > log::Level::kInfo) return;
    static auto last_print = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    const auto now = std::chrono::steady_clock::now();
    if (s.step != s.steps && now - last_print < std::chrono::milliseconds(500)) return;
    last_print = now;
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

struct ClassifierCli {
  std::string world = "default", out;
  int threads = 0;
  proxy::AttributeClassifier::TrainOptions train;
};

void run_train_classifier(const ClassifierCli& o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  proxy::AttributeClassifier c(proxy::world_spec(o.world));
  const double acc = c.train(o.train, 1000, [](int step, int steps, double loss) {
    if (log::level() > log::Level::kInfo || (step % 20 != 0 && step != steps)) return;
    std::fprintf(stderr, "\rclassifier: step %d/%d  loss %.4f   ", step, steps, loss);
    if (step == steps) std::fprintf(stderr, "\n");
  });
  c.save(o.out);
  nlohmann::json j = make_artifact("classifier", 1, make_run_context(argv, "cpu"));
  j["world"] = o.world;
  j["steps"] = o.train.steps;
  j["seed"] = o.train.seed;
  j["holdout_accuracy_all_attributes"] = acc;
  j["holdout_images"] = 1000;
  write_json_atomic(std::filesystem::path(o.out) / "train_result.json", j);
  std::printf("held-out accuracy (all attributes right, 1000 images): %.4f\n", acc);
}

struct EvalCli {
  std::string model, classifier, prompts, grid, output;
  std::vector<std::string> remove;
  int remove_every = 0;
  int threads = 0;
  proxy::EvalOptions eval;
};

void run_eval(const EvalCli& o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  auto pipeline = proxy::ProxyPipeline::load(o.model);
  // Optional ablation of the loaded UNet: named units, or every k-th removable unit.
  std::vector<std::string> removed = o.remove;
  if (o.remove_every > 0) {
    int k = 0;
    for (const auto& u : pipeline.unet->layout().units)
      if (u.removable() && u.parent.empty() && ++k % o.remove_every == 0) removed.push_back(u.id);
  }
  if (!removed.empty()) {
    ArchSpec spec = pipeline.unet->spec();
    for (const auto& id : removed) spec.edits.push_back(Edit::remove(id));
    auto student = std::make_unique<UNet>(spec);
    inherit_weights(*student, locate_model(std::filesystem::path(o.model) / "unet").weights);
    pipeline.unet = std::move(student);
    log::info("evaluating with {} units removed: {}", removed.size(), join_limited(removed, 6));
  }
  std::filesystem::path cdir = o.classifier;
  if (cdir.empty()) cdir = std::filesystem::path(o.model).lexically_normal().parent_path() / "classifier";
  const auto classifier = proxy::AttributeClassifier::load(cdir);
  if (classifier->world().name != pipeline.world.name)
    fail("the classifier in {} is for the {} world, the model for the {} world", cdir.string(),
         classifier->world().name, pipeline.world.name);
  const auto prompts = o.prompts.empty()
                           ? proxy::prompt_set(pipeline.world, 1001, pipeline.world.name == "test" ? 48 : 200)
                           : proxy::read_prompts(o.prompts);
  const auto r = proxy::evaluate(pipeline, *classifier, prompts, o.eval, [](int done, int total) {
    if (log::level() <= log::Level::kInfo) std::fprintf(stderr, "\rsampling: %d/%d prompts", done, total);
    if (done == total) std::fprintf(stderr, "\n");
  });
  nlohmann::json j = make_artifact("proxy_eval", 1, make_run_context(argv, "cpu"));
  j["model"] = o.model;
  j["classifier"] = cdir.string();
  j["prompts"] = o.prompts.empty() ? "world validation set (seed 1001)" : o.prompts;
  if (!removed.empty()) j["removed_units"] = removed;
  j["sampler"] = {{"name", o.eval.sampler.sampler}, {"steps", o.eval.sampler.steps},
                  {"guidance", o.eval.sampler.guidance}, {"seed", o.eval.seed}};
  j.update(proxy::to_json(r));
  write_json_atomic(o.output, j);
  if (!o.grid.empty()) {
    const size_t n = std::min<size_t>(32, r.images.size());
    proxy::write_grid_png(o.grid, std::vector<std::vector<uint8_t>>(r.images.begin(), r.images.begin() + n),
                          pipeline.world.image_size, std::vector<std::string>(prompts.begin(), prompts.begin() + n));
  }
  std::printf("%d samples: shape %.3f  colour %.3f  position %.3f  mean %.3f  all correct %.3f  proxy FID %.3f  (%.0f s)\n",
              r.n, r.accuracy.at("shape"), r.accuracy.at("colour"), r.accuracy.at("position"), r.mean_accuracy,
              r.all_correct, r.fid, r.seconds);
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
  auto c = std::make_shared<ClassifierCli>();
  auto* tc = proxy->add_subcommand(
      "train-classifier",
      "Train the attribute classifier (shape, colour, position) on clean images of the world and report its\n"
      "held-out accuracy (every attribute right, 1000 images of another seed).");
  tc->add_option("--world", c->world, "default or test")->capture_default_str();
  tc->add_option("--out", c->out, "Output folder")->required();
  tc->add_option("--steps", c->train.steps, "Training steps")->capture_default_str()->check(CLI::PositiveNumber);
  tc->add_option("--seed", c->train.seed, "Seed")->capture_default_str();
  tc->add_option("--threads", c->threads, "Intra-op CPU threads (0: libtorch's default)")->capture_default_str();
  tc->callback([c, argv] { run_train_classifier(*c, argv); });

  auto ex_model = std::make_shared<std::string>(), ex_out = std::make_shared<std::string>();
  auto ex_dtype = std::make_shared<std::string>("float16");
  auto* ex = proxy->add_subcommand("export", "Copy a trained proxy pipeline (no checkpoint, no log) with the UNet in --dtype");
  ex->add_option("--model", *ex_model, "Proxy pipeline folder")->required();
  ex->add_option("--out", *ex_out, "Output folder")->required();
  ex->add_option("--dtype", *ex_dtype, "UNet weights: float32, float16 or bfloat16")
      ->capture_default_str()
      ->check(CLI::IsMember({"float32", "float16", "bfloat16"}));
  ex->callback([ex_model, ex_out, ex_dtype] {
    proxy::ProxyPipeline::load(*ex_model).save(*ex_out, *ex_dtype);
    log::info("wrote {}", *ex_out);
  });

  auto e = std::make_shared<EvalCli>();
  auto* ev = proxy->add_subcommand(
      "eval",
      "Sample a proxy pipeline on prompts and score it: attribute accuracy against the prompts (per attribute,\n"
      "mean, all correct) with the attribute classifier, and the proxy FID (classifier features of the samples\n"
      "against clean renders of the same prompts). Default prompts: the world's validation set.");
  ev->add_option("--model", e->model, "Proxy pipeline folder")->required();
  ev->add_option("--classifier", e->classifier, "Attribute classifier folder (default: MODEL/../classifier)");
  ev->add_option("--prompts", e->prompts, "Prompts file, one per line");
  ev->add_option("--steps", e->eval.sampler.steps, "Sampling steps")->capture_default_str()->check(CLI::PositiveNumber);
  ev->add_option("--guidance", e->eval.sampler.guidance, "Classifier-free guidance scale")->capture_default_str();
  ev->add_option("--sampler", e->eval.sampler.sampler, "ddim, euler, dpm++2m or pndm")->capture_default_str()->check(
      CLI::IsMember(sampler_names()));
  ev->add_option("--seed", e->eval.seed, "Noise seed")->capture_default_str();
  ev->add_option("--remove", e->remove, "Evaluate with these units removed (ids, comma-separated)")->delimiter(',');
  ev->add_option("--remove-every", e->remove_every,
                 "Evaluate with every k-th removable top-level unit removed (3: a third of them)")
      ->check(CLI::NonNegativeNumber);
  ev->add_option("--grid", e->grid, "Also write a PNG grid of the first 32 samples with their captions");
  ev->add_option("--threads", e->threads, "Intra-op CPU threads (0: libtorch's default); results depend on it")
      ->capture_default_str();
  ev->add_option("-o,--output", e->output, "eval.json to write")->required();
  ev->callback([e, argv] { run_eval(*e, argv); });
}

}  // namespace asdm::cli
