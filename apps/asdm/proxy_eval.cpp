// asdm proxy eval: sample a proxy pipeline on prompts (optionally with units removed, or with a
// cache plan) and score it with the attribute classifier: accuracy per attribute and the proxy
// FID, as eval.json.
#include <cstdio>
#include <optional>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/error.h"
#include "core/image_grid.h"
#include "core/log.h"
#include "core/prompts.h"
#include "model/branch_cache.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "model/runtime.h"
#include "model/sampler.h"
#include "model/unet.h"
#include "proxy/classifier.h"
#include "proxy/pipeline.h"
#include "proxy/records.h"
#include "proxy/world.h"

namespace asdm::cli {
namespace {

struct EvalCli {
  std::string model, classifier, prompts, grid, output, cache_plan;
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
  if (cdir.empty())
    cdir = std::filesystem::path(o.model).lexically_normal().parent_path() / "classifier";
  const auto classifier = proxy::AttributeClassifier::load(cdir);
  if (classifier->world().name != pipeline.world.name)
    fail("the classifier in {} is for the {} world, the model for the {} world", cdir.string(),
         classifier->world().name, pipeline.world.name);
  const auto prompts =
      o.prompts.empty()
          ? proxy::prompt_set(pipeline.world, 1001, pipeline.world.name == "test" ? 48 : 200)
          : read_prompts(o.prompts);
  // A cache plan: every sampling run of the eval follows it (model/branch_cache.h).
  std::optional<BranchCache> cache;
  if (!o.cache_plan.empty()) {
    const CachePlan plan = CachePlan::read(o.cache_plan);
    plan.check(pipeline.unet->spec(), model_calls(o.eval.sampler));
    cache.emplace(plan);
    log::info("cache plan {}: {} of {} calls reuse {} unit(s)", o.cache_plan, plan.reusing_calls(),
              plan.calls, plan.units().size());
  }
  BranchCacheGuard attach(cache ? &*cache : nullptr);
  const auto r = proxy::evaluate(pipeline, *classifier, prompts, o.eval, [](int done, int total) {
    if (log::level() <= log::Level::kInfo)
      std::fprintf(stderr, "\rsampling: %d/%d prompts", done, total);
    if (done == total) std::fprintf(stderr, "\n");
  });
  proxy::EvalRecord rec;
  rec.header =
      ArtifactHeader::make(rec.kArtifact, rec.kSchemaVersion, make_run_context(argv, "cpu"));
  rec.model = o.model;
  rec.classifier = cdir.string();
  rec.prompts = o.prompts.empty() ? "world validation set (seed 1001)" : o.prompts;
  rec.removed_units = removed;
  if (cache) {
    rec.cache_plan = o.cache_plan;
    rec.cache_reused = cache->reused();
    rec.cache_peak_bytes = cache->peak_bytes();
  }
  rec.options = o.eval;
  rec.result = r;
  rec.write(o.output);
  if (!o.grid.empty()) {
    const size_t n = std::min<size_t>(32, r.images.size());
    write_grid_png(
        o.grid, std::vector<std::vector<uint8_t>>(r.images.begin(), r.images.begin() + n),
        pipeline.world.image_size, std::vector<std::string>(prompts.begin(), prompts.begin() + n));
  }
  std::printf(
      "%d samples: shape %.3f  colour %.3f  position %.3f  mean %.3f  all correct %.3f  proxy FID "
      "%.3f  (%.0f s)\n",
      r.n, r.accuracy.at("shape"), r.accuracy.at("colour"), r.accuracy.at("position"),
      r.mean_accuracy, r.all_correct, r.fid, r.seconds);
  std::printf(
      "proxy FID = mean term %.3f + covariance term %.3f; feature spread tr(S): samples %.1f, "
      "renders %.1f\n",
      r.fid_terms.mean, r.fid_terms.covariance, r.fid_terms.spread_a, r.fid_terms.spread_b);
}

}  // namespace

void add_proxy_eval(CLI::App& proxy, const std::vector<std::string>& argv) {
  auto e = std::make_shared<EvalCli>();
  auto* ev = proxy.add_subcommand(
      "eval",
      "Sample a proxy pipeline on prompts and score it: attribute accuracy against the prompts "
      "(per attribute,\n"
      "mean, all correct) with the attribute classifier, and the proxy FID (classifier features of "
      "the samples\n"
      "against clean renders of the same prompts). Default prompts: the world's validation set.");
  ev->add_option("--model", e->model, "Proxy pipeline folder")->required();
  ev->add_option("--classifier", e->classifier,
                 "Attribute classifier folder (default: MODEL/../classifier)");
  ev->add_option("--prompts", e->prompts, "Prompts file, one per line");
  ev->add_option("--steps", e->eval.sampler.steps, "Sampling steps")
      ->capture_default_str()
      ->check(kPositive);
  ev->add_option("--guidance", e->eval.sampler.guidance, "Classifier-free guidance scale")
      ->capture_default_str();
  ev->add_option("--sampler", e->eval.sampler.sampler, "ddim, euler, dpm++2m or pndm")
      ->capture_default_str()
      ->check(one_of(sampler_names()));
  ev->add_option("--seed", e->eval.seed, "Noise seed")->capture_default_str();
  ev->add_option("--remove", e->remove, "Evaluate with these units removed (ids, comma-separated)")
      ->delimiter(',');
  ev->add_option("--remove-every", e->remove_every,
                 "Evaluate with every k-th removable top-level unit removed (3: a third of them)")
      ->check(kNonNegative);
  ev->add_option(
        "--cache-plan", e->cache_plan,
        "Sample with a cache plan (asdm cache-plan): units reuse their branch across steps")
      ->check(CLI::ExistingFile);
  ev->add_option("--grid", e->grid,
                 "Also write a PNG grid of the first 32 samples with their captions");
  ev->add_option("--threads", e->threads,
                 "Intra-op CPU threads (0: libtorch's default); results depend on it")
      ->capture_default_str();
  ev->add_option("-o,--output", e->output, "eval.json to write")->required()->check(output_file());
  ev->callback([e, argv] { run_eval(*e, argv); });
}

}  // namespace asdm::cli
