#include "bench/bench.h"

#include <cstring>

#include <chrono>
#include <optional>
#include <set>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "analysis/sample_metrics.h"
#include "core/error.h"
#include "core/image_grid.h"
#include "core/prompts.h"
#include "eval/clip_scorer.h"
#include "eval/fid.h"
#include "eval/images.h"
#include "eval/inception.h"
#include "export/stock_form.h"
#include "model/arch_spec.h"
#include "model/branch_cache.h"
#include "model/checkpoint.h"
#include "model/cuda_graph.h"
#include "model/model_files.h"
#include "model/sampler.h"
#include "model/unet.h"
#include "profiler/cost_model.h"
#include "profiler/peak_memory.h"
#include "profiler/pipeline_profile.h"
#include "profiler/profile.h"
#include "proxy/classifier.h"
#include "proxy/frechet.h"
#include "proxy/metrics.h"
#include "proxy/pipeline.h"
#include "sd/clip_tokenizer.h"
#include "sd/sd_pipeline.h"
#include "sd/vae.h"

namespace asdm {

namespace fs = std::filesystem;

namespace {

bool is_proxy_pipeline(const fs::path& p) { return fs::exists(p / "proxy.json"); }
bool is_sd_pipeline(const fs::path& p) { return fs::exists(p / "model_index.json"); }

// Images [N, 3, H, W] in [0, 1] -> HWC RGB bytes for the sample grid.
std::string grid_file_name(const std::string& model) {
  std::string file = model + ".png";
  for (char& c : file)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  return file;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<QualityResult> compare_quality(
    const std::vector<fs::path>& pipelines, const std::vector<std::string>& prompts,
    const proxy::AttributeClassifier* classifier, const SamplerOptions& sampler, uint64_t seed,
    std::vector<std::vector<std::vector<uint8_t>>>* images_out,
    const std::function<void(int, int)>& progress, const std::vector<const CachePlan*>& plans) {
  std::vector<QualityResult> out;
  at::Tensor reference;
  std::vector<double> reference_features;  // with a classifier: the first model's
  for (size_t k = 0; k < pipelines.size(); ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto p = proxy::ProxyPipeline::load(pipelines[k]);
    std::optional<BranchCache> cache;
    if (k < plans.size() && plans[k]) cache.emplace(*plans[k]);
    BranchCacheGuard attach(cache ? &*cache : nullptr);
    QualityResult q;
    std::vector<std::vector<uint8_t>> images;
    if (classifier) {
      proxy::EvalOptions eo;
      eo.sampler = sampler;
      eo.seed = seed;
      const proxy::EvalResult r = proxy::evaluate(p, *classifier, prompts, eo);
      images = r.images;
      q.classified = true;
      q.accuracy = r.accuracy;
      q.mean_accuracy = r.mean_accuracy;
      q.all_correct = r.all_correct;
      q.fid = r.fid;
      std::vector<double> f = proxy::classifier_features(*classifier, images);
      if (k == 0)
        reference_features = std::move(f);
      else if (images.size() >= 2)
        q.proxy_fid_vs_reference =
            proxy::frechet_distance(f, int(images.size()), reference_features, int(out[0].samples),
                                    proxy::AttributeClassifier::kFeatureDim);
    } else {
      images = p.generate(prompts, seed, sampler);
    }
    q.samples = static_cast<int>(images.size());
    // PSNR/SSIM in image space ([-1, 1], peak-to-peak 2) against the first model's images.
    const at::Tensor x = torch::pixel_shuffle(p.to_latent(images), p.space_to_depth);
    if (!reference.defined()) reference = x;
    for (double v : psnr(x, reference, 2.0)) q.psnr_db += v / images.size();
    for (double v : ssim(x, reference, 2.0)) q.ssim += v / images.size();
    q.seconds = ms_since(t0) / 1e3;
    out.push_back(q);
    if (images_out) images_out->push_back(std::move(images));
    if (progress) progress(static_cast<int>(k + 1), static_cast<int>(pipelines.size()));
  }
  return out;
}

const std::vector<std::string>& sd_validation_prompts() {
  static const std::vector<std::string> prompts = {
      "a photo of an astronaut riding a horse on mars",
      "a bowl of ramen on a wooden table, studio lighting",
      "a red fox in the snow, wildlife photography",
      "an oil painting of a lighthouse at sunset",
      "a city street at night in the rain, neon signs",
      "a cup of coffee next to an open book",
      "a watercolor of mountains above a lake",
      "portrait of an old fisherman, black and white",
      "a bicycle leaning against a brick wall",
      "a bowl of fruit, still life, soft light",
      "a small cabin in a pine forest in winter",
      "a golden retriever puppy on the grass",
      "an aerial view of a river through farmland",
      "a futuristic car in a desert, concept art",
      "a plate of pancakes with berries and syrup",
      "a sailboat on a calm sea at dawn"};
  return prompts;
}

namespace {

// The pipeline and quality passes of UNet models run inside one real SD pipeline: interleaved
// pipeline rounds timed by stage, then images of the same prompts and noise per model, scored
// against the first model's.
void run_sd_passes(SdPipeline& sd, const std::vector<std::pair<std::string, fs::path>>& models,
                   const BenchOptions& o, BenchResult& r,
                   const std::function<void(const char*, int, int)>& report) {
  LoadOptions lo;
  lo.device = o.device;
  lo.dtype = o.dtype;
  lo.allow_random_weights = true;
  lo.channels_last = o.channels_last;
  std::vector<std::unique_ptr<UNet>> unets;
  for (const auto& [name, path] : models) unets.push_back(load_unet(path, lo));
  // Runs f with model k's UNet in the pipeline.
  auto with_unet = [&](size_t k, const std::function<void()>& f) {
    auto original = sd.replace_unet(std::move(unets[k]));
    try {
      f();
    } catch (...) {
      unets[k] = sd.replace_unet(std::move(original));
      throw;
    }
    unets[k] = sd.replace_unet(std::move(original));
  };
  GenerateOptions g;
  g.steps = o.sampler.steps;
  g.guidance = o.sampler.guidance;
  g.sampler = o.sampler.sampler;
  g.height = g.width = r.input.resolution;
  g.seed = o.seed;
  g.graphs = o.graphs;
  const auto& prompts =
      o.prompts_file.empty() ? sd_validation_prompts() : read_prompts(o.prompts_file);
  const size_t n = models.size();
  if (o.pipeline_runs > 0) {
    for (int i = 0; i < o.pipeline_batch; ++i) g.prompts.push_back(prompts[i % prompts.size()]);
    std::vector<std::vector<double>> te(n), un(n), de(n), tot(n);
    const int total = int(n) * (1 + o.pipeline_runs);
    int done = 0;
    for (int round = 0; round <= o.pipeline_runs; ++round)
      for (size_t k = 0; k < n; ++k) {
        with_unet(k, [&] {
          if (round == 0) {
            PeakMemory memory;
            time_pipeline_run(sd, g);
            r.models[k].pipeline_peak_bytes = memory.peak_bytes();
            return;
          }
          const PipelineRunTimes t = time_pipeline_run(sd, g);
          te[k].push_back(t.text_encoder_ms);
          un[k].push_back(t.unet_ms);
          de[k].push_back(t.vae_ms);
          tot[k].push_back(t.total_ms);
        });
        report("pipeline", ++done, total);
      }
    for (size_t k = 0; k < n; ++k) {
      r.models[k].pipeline =
          PipelineTimes{summarize(te[k]), summarize(un[k]), summarize(de[k]), summarize(tot[k])};
      r.models[k].pipeline_speedup =
          1 - r.models[k].pipeline->total_ms.median / r.models[0].pipeline->total_ms.median;
    }
  }
  if (o.quality_prompts <= 0) return;
  const std::vector<std::string> qp(
      prompts.begin(), prompts.begin() + std::min<size_t>(prompts.size(), o.quality_prompts));
  std::unique_ptr<ClipScorer> clip;
  at::Tensor clip_text;
  if (!o.clip.empty()) {
    clip = ClipScorer::load(o.clip);
    clip->to(o.device, o.dtype);
    clip_text = clip->text_embeddings(qp);
  }
  std::unique_ptr<FidInception> inception;
  GaussianStats reference_stats;
  if (!o.inception.empty()) {
    require_enough_for_fid(static_cast<int64_t>(qp.size()), o.fid_dims,
                           fmt::format("bench FID of {} quality images", qp.size()));
    inception = FidInception::load(o.inception);
    inception->to(o.device, o.dtype);
  }
  at::Tensor reference;
  for (size_t k = 0; k < n; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<at::Tensor> parts;
    with_unet(k, [&] {
      torch::InferenceMode guard;
      for (size_t i = 0; i < qp.size(); i += o.pipeline_batch) {
        GenerateOptions b = g;
        b.prompts.assign(qp.begin() + i, qp.begin() + std::min(qp.size(), i + o.pipeline_batch));
        b.noise_offset = i;  // noise by prompt index: batching changes no image
        parts.push_back(sd.generate(b).images);
      }
    });
    const at::Tensor x = torch::cat(parts);
    if (!reference.defined()) reference = x;
    QualityResult q;
    q.samples = int(x.size(0));
    for (double v : psnr(x, reference, 1.0)) q.psnr_db += v / q.samples;
    for (double v : ssim(x, reference, 1.0)) q.ssim += v / q.samples;
    if (clip || inception) {
      torch::InferenceMode guard;
      const at::Tensor u8 = to_uint8_images(x);  // as the PNGs would hold them
      if (clip) q.clip_score = clip_score(clip->image_embeddings(u8), clip_text);
      if (inception) {
        StatsAccumulator acc(o.fid_dims);
        for (int64_t i = 0; i < u8.size(0); i += 16) {
          at::Tensor pool;
          inception->forward(u8.slice(0, i, i + 16), InceptionPreprocess::kPytorchFid, o.fid_dims,
                             {&pool, nullptr});
          pool = pool.cpu().contiguous();
          acc.add(pool.data_ptr<float>(), pool.size(0));
        }
        const GaussianStats mine = acc.finish("bench FID of " + r.models[k].name);
        if (k == 0) reference_stats = mine;
        q.fid_vs_reference = frechet_distance(mine, reference_stats);
        q.fid_dims = o.fid_dims;
      }
    }
    q.seconds = ms_since(t0) / 1e3;
    r.models[k].quality = q;
    if (!o.samples_dir.empty()) {
      const int64_t m = std::min<int64_t>(16, x.size(0));
      const auto file = grid_file_name(r.models[k].name);
      write_grid_png(o.samples_dir / file, to_rgb8(x.slice(0, 0, m)), int(x.size(2)),
                     {qp.begin(), qp.begin() + m}, 8, 1);
      r.models[k].samples_grid = file;
    }
    report("quality", int(k + 1), int(n));
  }
}

}  // namespace

namespace {

// One bench run, pass by pass: check the options, load the pipelines, choose the common input,
// load the UNets (params, MACs), time the UNets, time the whole pipelines, the Stable Diffusion
// passes, quality.
class BenchRun {
 public:
  BenchRun(const std::vector<std::pair<std::string, fs::path>>& models, const BenchOptions& o)
      : models(models), o(o) {}

  BenchResult run() {
    check();
    r.options = o;
    load_pipelines();
    choose_input();
    load_unets();
    time_unets();
    time_pipelines();
    if (sd) run_sd_passes(*sd, models, o, r, report);
    quality();
    return r;
  }

 private:
  void check() {
    if (models.empty()) fail("no models to bench");
    if (o.runs < 1 || o.warmup < 0 || o.batch < 1 || o.pipeline_batch < 1 || o.pipeline_runs < 0 ||
        o.quality_prompts < 0)
      fail(
          "bench options out of range: runs >= 1, warmup >= 0, batch >= 1, pipeline batch >= 1, "
          "pipeline runs and quality prompts >= 0");
    for (const auto& [name, path] : models)
      if (!fs::exists(path)) fail("model '{}': {} does not exist", name, path.string());
    if (o.graphs) require_graphs(o.device, "bench --graphs");
    if (!o.clip.empty() && !fs::is_directory(o.clip))
      fail("--clip {} is not a CLIP folder", o.clip);
    if (!o.inception.empty()) {
      if (!fs::exists(o.inception)) fail("--inception {} does not exist", o.inception);
      check_fid_dims(o.fid_dims);
      if (o.quality_prompts > 0)
        require_enough_for_fid(o.quality_prompts, o.fid_dims,
                               fmt::format("bench FID of {} quality images", o.quality_prompts));
    }
  }

  // The proxy pipelines (CPU, fp32) for the pipeline and quality passes, or a real Stable
  // Diffusion pipeline in which the UNet models run.
  void load_pipelines() {
    for (const auto& [name, path] : models)
      pipes.push_back(is_proxy_pipeline(path)
                          ? std::make_unique<proxy::ProxyPipeline>(proxy::ProxyPipeline::load(path))
                          : nullptr);
    for (auto& p : pipes)
      if (p) p->unet->set_channels_last(o.channels_last);
    // Cache plans, checked against their model and the sampler's model calls.
    plans.resize(models.size());
    for (const auto& [name, file] : o.cache_plans) {
      size_t k = 0;
      while (k < models.size() && models[k].first != name) ++k;
      if (k == models.size()) fail("--cache-plan names model '{}', which is not benched", name);
      if (!pipes[k])
        fail("--cache-plan for '{}': cache plans apply to proxy pipelines' sampling here", name);
      CachePlan plan = CachePlan::read(file);
      try {
        plan.check(pipes[k]->unet->spec(), model_calls(o.sampler));
      } catch (const Error& e) {
        fail("--cache-plan for '{}': {}", name, e.what());
      }
      plans[k] = std::move(plan);
    }

    // A real Stable Diffusion pipeline in which the UNet models run (bench's --sd-pipeline, else
    // the first model that is a pipeline folder).
    fs::path sd_path = o.sd_pipeline;
    for (size_t k = 0; k < models.size() && sd_path.empty(); ++k)
      if (!pipes[k] && is_sd_pipeline(models[k].second)) sd_path = models[k].second;
    if (!sd_path.empty()) {
      if (std::any_of(pipes.begin(), pipes.end(), [](const auto& p) { return p != nullptr; }))
        fail(
            "bench compares one family: proxy pipelines and a Stable Diffusion pipeline cannot be "
            "mixed");
      sd = SdPipeline::load(sd_path, o.device, o.dtype, o.sd_config);
    }
  }

  // Every model gets the same input: the first proxy pipeline's, else the UNets' defaults.
  void choose_input() {
    po.batch = o.batch;
    po.runs = o.runs;
    po.warmup = o.warmup;
    po.graphs = o.graphs;
    po.seed = o.seed;
    po.resolution = o.resolution;
    po.text_tokens = o.text_tokens > 0 ? o.text_tokens : 77;
    for (const auto& p : pipes)
      if (p) {
        if (o.resolution == 0)
          po.resolution = p->world.image_size / p->space_to_depth * po.vae_scale;
        if (o.text_tokens == 0) po.text_tokens = p->world.max_tokens;
        break;
      }

    if (sd) {
      po.vae_scale = sd->vae().downscale();
      if (o.resolution == 0) po.resolution = sd->unet().spec().teacher.sample_size * po.vae_scale;
      if (o.text_tokens == 0) po.text_tokens = sd->tokenizer().model_max_length();
    }
  }

  void load_unets() {
    LoadOptions lo;
    lo.device = o.device;
    lo.dtype = o.dtype;
    lo.allow_random_weights = true;
    lo.channels_last = o.channels_last;
    for (size_t k = 0; k < models.size(); ++k) {
      const auto& [name, path] = models[k];
      const ArchSpec spec = load_arch(locate_model(path));
      const int latent = profile_latent_side(spec.student_config(), po);
      if (k == 0) {
        r.input = InputShape::square(latent, po.vae_scale, o.batch, po.text_tokens);
      } else {
        const auto& c0 = unets[0]->layout().config;
        const auto& c = spec.student_config();
        if (latent != r.input.latent_height || c.in_channels != c0.in_channels ||
            c.cross_attention_dim != c0.cross_attention_dim)
          fail(
              "model '{}' takes other inputs than '{}' (latent side, channels or text width "
              "differ): "
              "bench compares one model family",
              name, models[0].first);
      }
      unets.push_back(load_unet(path, lo));
      ptrs.push_back(unets.back().get());
      ModelBench m;
      m.name = name;
      m.path = path.string();
      m.kind = pipes[k] ? "proxy_pipeline" : sd ? "sd_pipeline" : "unet";
      m.export_routes = export_routes(stock_form(spec));
      if (o.cache_plans.count(name)) m.cache_plan = o.cache_plans.at(name);
      const CostReport cost = estimate_cost(spec, r.input);
      m.macs = cost.macs;
      m.attn_macs = cost.attn_macs;
      for (const auto& t : unets.back()->module().parameters()) {
        m.params += t.numel();
        m.weights_bytes += t.numel() * t.element_size();
      }
      r.models.push_back(m);
    }
    r.memory_method =
        "peak of live tensor bytes allocated on the calling thread during one call (libtorch's "
        "allocator reports), "
        "weights excluded; allocations on intra-op worker threads are not seen";
  }

  void time_unets() {
    std::vector<int64_t> peaks;
    const auto unet_ms = time_forwards_interleaved(
        ptrs, po, [&](int d, int t) { report("unet", d, t); }, &peaks);
    for (size_t k = 0; k < models.size(); ++k) {
      r.models[k].unet_ms = unet_ms[k];
      r.models[k].unet_peak_bytes = peaks[k];
      r.models[k].unet_speedup = 1 - unet_ms[k].median / unet_ms[0].median;
    }
    unets.clear();
  }

  // Whole pipelines, interleaved: one warm-up round, then pipeline_runs rounds.
  void time_pipelines() {
    for (size_t k = 0; k < pipes.size(); ++k)
      if (pipes[k]) with_pipe.push_back(k);
    if (!with_pipe.empty() && o.pipeline_runs > 0) {
      const auto& w0 = pipes[with_pipe[0]]->world;
      const auto prompts = proxy::prompt_set(w0, 1001, o.pipeline_batch);
      std::vector<std::vector<double>> te(models.size()), un(models.size()), de(models.size()),
          tot(models.size());
      const int total = static_cast<int>(with_pipe.size()) * (1 + o.pipeline_runs);
      int done = 0;
      for (int round = 0; round <= o.pipeline_runs; ++round)
        for (size_t k : with_pipe) {
          SamplerOptions so = o.sampler;
          proxy::GenerateTimes times;
          std::optional<BranchCache> cache;
          if (plans[k]) cache.emplace(*plans[k]);
          BranchCacheGuard attach(cache ? &*cache : nullptr);
          const auto t0 = std::chrono::steady_clock::now();
          if (round == 0) {
            PeakMemory memory;
            pipes[k]->generate(prompts, o.seed, so, nullptr, 0, &times);
            r.models[k].pipeline_peak_bytes = memory.peak_bytes();
          } else {
            pipes[k]->generate(prompts, o.seed, so, nullptr, 0, &times);
            const double all = ms_since(t0);
            te[k].push_back(times.text_encoder_s * 1e3);
            un[k].push_back(times.denoise_s * 1e3);
            de[k].push_back(times.decoder_s * 1e3);
            tot[k].push_back(all);
          }
          report("pipeline", ++done, total);
        }
      for (size_t k : with_pipe)
        r.models[k].pipeline =
            PipelineTimes{summarize(te[k]), summarize(un[k]), summarize(de[k]), summarize(tot[k])};
      const double ref = r.models[with_pipe[0]].pipeline->total_ms.median;
      for (size_t k : with_pipe)
        r.models[k].pipeline_speedup = 1 - r.models[k].pipeline->total_ms.median / ref;
    }
  }

  // Quality on the proxy world: the same prompts and noise for every model.
  void quality() {
    if (!with_pipe.empty() && o.quality_prompts > 0) {
      const proxy::WorldSpec w0 =
          pipes[with_pipe[0]]->world;  // a copy: the pipelines are released below
      const auto prompts = o.prompts_file.empty() ? proxy::prompt_set(w0, 1001, o.quality_prompts)
                                                  : read_prompts(o.prompts_file);
      std::unique_ptr<proxy::AttributeClassifier> classifier;
      if (!o.classifier.empty()) classifier = proxy::AttributeClassifier::load(o.classifier);
      std::vector<fs::path> paths;
      for (size_t k : with_pipe) paths.push_back(models[k].second);
      pipes.clear();
      std::vector<std::vector<std::vector<uint8_t>>> images;
      std::vector<const CachePlan*> plan_ptrs;
      for (size_t k : with_pipe) plan_ptrs.push_back(plans[k] ? &*plans[k] : nullptr);
      const auto q = compare_quality(
          paths, prompts, classifier.get(), o.sampler, o.seed, &images,
          [&](int d, int t) { report("quality", d, t); }, plan_ptrs);
      for (size_t i = 0; i < with_pipe.size(); ++i) {
        ModelBench& m = r.models[with_pipe[i]];
        m.quality = q[i];
        if (!o.samples_dir.empty()) {
          const size_t n = std::min<size_t>(16, images[i].size());
          const std::string file = grid_file_name(m.name);
          write_grid_png(o.samples_dir / file, {images[i].begin(), images[i].begin() + n},
                         w0.image_size, {prompts.begin(), prompts.begin() + n}, 8, 3);
          m.samples_grid = file;
        }
      }
    }
  }

  const std::vector<std::pair<std::string, fs::path>>& models;
  const BenchOptions& o;
  BenchResult r;
  const std::function<void(const char*, int, int)> report = [this](const char* stage, int done,
                                                                   int total) {
    if (o.progress) o.progress(stage, done, total);
  };
  std::vector<std::unique_ptr<proxy::ProxyPipeline>> pipes;
  std::unique_ptr<SdPipeline> sd;
  ProfileOptions po;
  std::vector<std::unique_ptr<UNet>> unets;
  std::vector<const UNet*> ptrs;
  std::vector<std::optional<CachePlan>> plans;  // per model
  std::vector<size_t> with_pipe;                // models with a proxy pipeline
};

}  // namespace

BenchResult run_bench(const std::vector<std::pair<std::string, fs::path>>& models,
                      const BenchOptions& o) {
  return BenchRun(models, o).run();
}

namespace {

// Where NAME=PATH splits `spec`, or npos when the whole spec is a path: a name has no '/', and a
// spec that names an existing file or folder as written, where the text after its '=' does not,
// is that path (a run folder such as lr=1e-4/student).
size_t model_name_end(const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || spec.substr(0, eq).find('/') != std::string::npos)
    return std::string::npos;
  std::error_code ec;
  if (fs::exists(spec, ec) && !fs::exists(spec.substr(eq + 1), ec)) return std::string::npos;
  return eq;
}

}  // namespace

// "name=path" or "path" (named by its folder); names are unique.
std::vector<std::pair<std::string, fs::path>> parse_model_list(
    const std::vector<std::string>& specs) {
  std::vector<std::pair<std::string, fs::path>> out;
  std::set<std::string> names;
  for (const auto& s : specs) {
    const auto eq = model_name_end(s);
    fs::path path = eq == std::string::npos ? s : s.substr(eq + 1);
    std::string name =
        eq == std::string::npos ? path.lexically_normal().filename().string() : s.substr(0, eq);
    if (name.empty()) name = path.lexically_normal().parent_path().filename().string();
    if (name.empty() || path.empty())
      fail("--models: '{}' is not a model (give PATH or NAME=PATH)", s);
    if (names.count(name)) {
      if (eq != std::string::npos) fail("--models: the name '{}' is given twice", name);
      for (int k = 2;; ++k)
        if (!names.count(fmt::format("{}-{}", name, k))) {
          name = fmt::format("{}-{}", name, k);
          break;
        }
    }
    names.insert(name);
    out.emplace_back(name, path);
  }
  return out;
}

BenchResult bench_to_file(const std::vector<std::pair<std::string, fs::path>>& models,
                          BenchOptions options, const fs::path& out, bool samples,
                          const RunContext& context) {
  const fs::path samples_rel = out.stem().string() + "-samples";
  if (samples && out != "-") options.samples_dir = out.parent_path() / samples_rel;
  BenchResult r = run_bench(models, options);
  r.header = ArtifactHeader::make(r.kArtifact, r.kSchemaVersion, context);
  for (auto& m : r.models)  // bench.json names the grids relative to its own folder
    if (!m.samples_grid.empty()) m.samples_grid = (samples_rel / m.samples_grid).string();
  r.write(out);
  return r;
}

}  // namespace asdm
