#include "eval/eval_run.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/error.h"
#include "core/png.h"
#include "core/sha256.h"
#include "eval/captions.h"
#include "eval/clip_scorer.h"
#include "eval/cmmd.h"
#include "eval/fid.h"
#include "eval/images.h"
#include "eval/inception.h"
#include "eval/inception_score.h"
#include "eval/pil_resize.h"
#include "model/branch_cache.h"
#include "model/cache_plan.h"
#include "model/checkpoint.h"
#include "model/runtime.h"
#include "model/sampler.h"
#include "model/tensor_io.h"
#include "model/unet.h"
#include "sd/sd_pipeline.h"

namespace asdm {

namespace fs = std::filesystem;
using nlohmann::json;
using torch::Tensor;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kSettingsFile = "eval-settings.json";

struct Item {
  std::string id, caption;
  fs::path image;  // empty when generated
};

std::string abs_path(const std::string& p) {
  return p.empty() ? "" : fs::absolute(p).lexically_normal().string();
}

fs::path batch_file(const fs::path& out, int k) {
  return out / "features" / fmt::format("batch-{:06d}.safetensors", k);
}

std::string fid_definition(const std::string& mode, int dims) {
  return fmt::format(
      "Frechet distance between Gaussians fitted to the {}-d Inception-v3 (TF 2015-12-05 FID "
      "weights) features of the images and of the reference: |mu1-mu2|^2 + tr(S1) + tr(S2) - "
      "2 tr((S1 S2)^1/2), float64 statistics; preprocessing as {} ({})",
      dims, mode,
      mode == "clean"            ? "Pillow bicubic per channel to 299, (x-128)/128"
      : mode == "torch-fidelity" ? "TF1 bilinear to 299, (x-128)/128"
                                 : "torch bilinear to 299, 2x-1");
}

constexpr const char* kIsDefinition =
    "exp(E_x KL(p(y|x) || p(y))) over 10 splits, as torch-fidelity computes it: Inception-v3 "
    "1008 logits without the fc bias, TF1 bilinear resize, rows shuffled by "
    "numpy.random.RandomState(2020); mean and std over the splits";
constexpr const char* kClipDefinition =
    "max(mean over image-caption pairs of 100 * cos(image embedding, caption embedding), 0), as "
    "torchmetrics' CLIPScore computes it";
constexpr const char* kCmmdDefinition =
    "squared MMD x 1000 between the CLIP image embeddings (L2-normalised) of the images and of the "
    "reference images, Gaussian RBF kernel sigma 10 (Jayasumana et al. 2024, google-research/cmmd)";

// What the run scores, its models, and the fingerprint of everything its features depend on.
struct Run {
  EvalOptions o;
  std::vector<Item> items;
  bool generate = false, have_captions = false;
  int width = 0, height = 0;  // of the images scored (eval images)
  std::optional<CachePlan> plan;
  std::unique_ptr<FidInception> inception;
  std::unique_ptr<ClipScorer> clip;
  std::unique_ptr<SdPipeline> pipe;
  json fingerprint;
  int batches() const { return static_cast<int>((items.size() + o.batch - 1) / o.batch); }
};

void check_options(const EvalOptions& o) {
  if (o.images.empty() == o.model.empty())
    fail(
        "give either images to score (eval images DIR) or a pipeline to generate with (eval "
        "generate --model)");
  if (o.batch <= 0) fail("--batch must be positive, got {}", o.batch);
  if (o.shard_count <= 0 || o.shard_index < 0 || o.shard_index >= o.shard_count)
    fail("shard {}/{} is not one of 0/{} .. {}/{}", o.shard_index, o.shard_count, o.shard_count,
         o.shard_count - 1, o.shard_count);
  if (o.inception.empty() && o.clip.empty())
    fail("nothing to measure: give --inception (FID, IS) and/or --clip (CLIP score, CMMD)");
  if (!o.model.empty() && o.captions.empty())
    fail("eval generate needs --captions: the prompts to generate from");
  if (!o.clip.empty() && o.captions.empty() && o.ref_images.empty())
    fail(
        "--clip measures the CLIP score against --captions and CMMD against --ref-images; give "
        "at least one");
  if (!o.ref_stats.empty() && !o.ref_images.empty())
    fail("give one FID reference: --ref-stats or --ref-images");
  parse_inception_preprocess(o.fid_mode);
  check_fid_dims(o.fid_dims);
}

Run plan_run(const EvalOptions& o, const EvalNote& note) {
  check_options(o);
  Run r;
  r.o = o;
  std::vector<Caption> captions;
  if (!o.captions.empty()) captions = read_captions(o.captions);
  if (!o.images.empty()) {
    auto files = list_images(o.images);
    std::vector<std::string> texts;  // paired over the whole folder, then --limit for both
    if (!captions.empty()) texts = pair_captions(files, captions, o.captions);
    if (o.limit > 0 && static_cast<size_t>(o.limit) < files.size()) {
      files.resize(o.limit);
      if (!texts.empty()) texts.resize(o.limit);
    }
    for (size_t i = 0; i < files.size(); ++i)
      r.items.push_back({files[i].stem().string(), texts.empty() ? "" : texts[i], files[i]});
    std::tie(r.width, r.height) = check_same_size(files);
  } else {
    r.generate = true;
    if (o.limit > 0 && static_cast<size_t>(o.limit) < captions.size()) captions.resize(o.limit);
    for (size_t i = 0; i < captions.size(); ++i)
      r.items.push_back({captions[i].id.empty() ? fmt::format("{:06d}", i) : captions[i].id,
                         captions[i].text,
                         {}});
  }
  r.have_captions = !captions.empty();
  const int64_t n = static_cast<int64_t>(r.items.size());
  if (!o.inception.empty()) {
    require_enough_for_fid(n, o.fid_dims, fmt::format("FID of these {} images", n));
    if (o.inception_score && n < 10)
      fail("the Inception Score over 10 splits needs at least 10 images, got {}", n);
    if (!o.ref_stats.empty()) {
      const GaussianStats ref = read_fid_stats(o.ref_stats);
      if (ref.dims() != o.fid_dims)
        fail("{} holds {}-d statistics but --fid-dims is {}", o.ref_stats, ref.dims(), o.fid_dims);
    }
    if (!o.ref_images.empty()) {
      const auto ref = list_images(o.ref_images);
      require_enough_for_fid(static_cast<int64_t>(ref.size()), o.fid_dims,
                             fmt::format("FID reference {}", o.ref_images));
    }
    r.inception = FidInception::load(o.inception);
    r.inception->to(o.device, o.dtype);
  }
  if (!o.clip.empty()) {
    r.clip = ClipScorer::load(o.clip, o.clip_tokenizer);
    r.clip->to(o.device, o.dtype);
    if (!o.ref_images.empty()) list_images(o.ref_images);
  }
  if (r.generate) {
    note(fmt::format("loading {}{}", o.model, o.unet.empty() ? "" : " with the UNet " + o.unet));
    r.pipe =
        SdPipeline::load(o.model, o.device, std::string(to_string(parse_dtype(o.dtype))), o.config);
    if (!o.unet.empty()) {
      LoadOptions lo;
      lo.device = o.device;
      lo.dtype = std::string(to_string(parse_dtype(o.dtype)));
      r.pipe->replace_unet(load_unet(o.unet, lo));
    }
    GenerateOptions g;
    g.steps = o.steps;
    g.sampler = o.sampler;
    g.height = o.height;
    g.width = o.width;
    const SamplerOptions so =
        r.pipe->sampler_options(g);  // sampler settings fail here, before work
    r.pipe->image_size(g);
    if (!o.cache_plan.empty()) {
      r.plan = CachePlan::read(o.cache_plan);
      r.plan->check(r.pipe->unet().spec(), model_calls(so));
    }
  }
  std::string items_text;
  for (const auto& it : r.items)
    items_text += it.id + '\t' + it.caption + '\t' + it.image.filename().string() + '\n';
  EvalSource source;
  if (r.generate) {
    source.kind = "generate";
    source.model = abs_path(o.model);
    source.config = abs_path(o.config);
    source.unet = abs_path(o.unet);
    source.steps = o.steps;
    source.guidance = o.guidance;
    source.sampler = o.sampler;
    source.height = o.height;
    source.width = o.width;
    source.clip_skip = o.clip_skip;
    source.seed = o.seed;
    source.score_size = o.score_size;
    source.cache_plan = abs_path(o.cache_plan);
  } else {
    source.kind = "images";
    source.folder = abs_path(o.images);
  }
  r.fingerprint = {{"source", asdm::to_json(source)},
                   {"captions", o.captions.empty() ? json(nullptr) : json(abs_path(o.captions))},
                   {"items", n},
                   {"items_sha256", sha256_hex(items_text)},
                   {"batch", o.batch},
                   {"dtype", std::string(short_name(parse_dtype(o.dtype)))},
                   {"device_kind", o.device.rfind("cuda", 0) == 0 ? "cuda" : "cpu"},
                   {"inception", r.inception ? json{{"file", abs_path(o.inception)},
                                                    {"sha256", r.inception->sha256()}}
                                             : json(nullptr)},
                   {"fid_mode", o.fid_mode},
                   {"fid_dims", o.fid_dims},
                   {"inception_score", r.inception && o.inception_score},
                   {"clip", r.clip ? json{{"folder", abs_path(o.clip)},
                                          {"tokenizer", abs_path(o.clip_tokenizer)},
                                          {"flavour", r.clip->flavour()},
                                          {"name", r.clip->name()},
                                          {"sha256", r.clip->sha256()}}
                                   : json(nullptr)},
                   {"ref_stats", abs_path(o.ref_stats)},
                   {"ref_images", abs_path(o.ref_images)},
                   {"keep_images", r.generate && o.keep_images}};
  return r;
}

std::string fingerprint_difference(const json& a, const json& b) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : a.items())
    if (!b.contains(k) || b[k] != v) keys.push_back(k);
  for (const auto& [k, v] : b.items())
    if (!a.contains(k)) keys.push_back(k);
  return join_limited(keys);
}

// This batch's images as [b, 3, H, W] uint8 (generated ones also written when kept).
Tensor batch_images(const Run& r, int k, const fs::path& out) {
  const size_t a = static_cast<size_t>(k) * r.o.batch,
               b = std::min(r.items.size(), a + static_cast<size_t>(r.o.batch));
  if (!r.generate) {
    std::vector<fs::path> files;
    for (size_t i = a; i < b; ++i) files.push_back(r.items[i].image);
    const Tensor t = read_images(files);
    if (t.size(2) != r.height || t.size(3) != r.width)
      fail("'{}' is {}x{} but '{}' is {}x{}: an image set must be of one size", files[0].string(),
           t.size(3), t.size(2), r.items[0].image.string(), r.width, r.height);
    return t;
  }
  GenerateOptions g;
  for (size_t i = a; i < b; ++i) g.prompts.push_back(r.items[i].caption);
  g.steps = r.o.steps;
  g.guidance = r.o.guidance;
  g.sampler = r.o.sampler;
  g.height = r.o.height;
  g.width = r.o.width;
  g.seed = r.o.seed;
  g.noise_offset = a;  // image i gets the noise of (seed, i), whatever the batching
  g.clip_skip = r.o.clip_skip;
  std::optional<BranchCache> cache;  // a fresh one per batch: one sampling run each
  if (r.plan) cache.emplace(*r.plan);
  BranchCacheGuard attach(cache ? &*cache : nullptr);
  const Tensor images = r.pipe->generate(g).images;
  auto rgb = to_rgb8(images);
  int64_t H = images.size(2), W = images.size(3);
  if (r.o.score_size > 0 && (H != r.o.score_size || W != r.o.score_size)) {
    for (auto& px : rgb)
      px = pil_resize_rgb8(px.data(), static_cast<int>(W), static_cast<int>(H), r.o.score_size,
                           r.o.score_size, PilFilter::kBicubic);
    H = W = r.o.score_size;
  }
  Tensor t = torch::empty({static_cast<int64_t>(rgb.size()), H, W, 3}, torch::kUInt8);
  for (size_t i = 0; i < rgb.size(); ++i) {
    std::memcpy(t[static_cast<int64_t>(i)].data_ptr<uint8_t>(), rgb[i].data(), rgb[i].size());
    if (r.o.keep_images)
      write_png(out / "images" / (r.items[a + i].id + ".png"), rgb[i].data(), static_cast<int>(W),
                static_cast<int>(H));
  }
  return t.permute({0, 3, 1, 2}).contiguous();
}

TensorMap batch_features(const Run& r, int k, const Tensor& images) {
  TensorMap f;
  torch::InferenceMode guard;
  if (r.inception) {
    const auto mode = parse_inception_preprocess(r.o.fid_mode);
    Tensor pool, logits;
    const bool shared = r.o.inception_score && mode == InceptionPreprocess::kTorchFidelity;
    r.inception->forward(images, mode, r.o.fid_dims, {&pool, shared ? &logits : nullptr});
    if (r.o.inception_score && !shared)  // IS is torch-fidelity's: its own resize
      r.inception->forward(images, InceptionPreprocess::kTorchFidelity, 2048, {nullptr, &logits});
    f["fid"] = pool.cpu().contiguous();
    if (logits.defined()) f["logits"] = logits.cpu().contiguous();
  }
  if (r.clip) {
    f["clip_image"] = r.clip->image_embeddings(images).contiguous();
    if (r.have_captions) {
      std::vector<std::string> texts;
      const size_t a = static_cast<size_t>(k) * r.o.batch;
      for (size_t i = a; i < a + static_cast<size_t>(images.size(0)); ++i)
        texts.push_back(r.items[i].caption);
      f["clip_text"] = r.clip->text_embeddings(texts).contiguous();
    }
  }
  return f;
}

}  // namespace

bool compute_eval_batches(const EvalOptions& options, const EvalNote& note,
                          const EvalProgressFn& progress) {
  Run r = plan_run(options, note);
  const fs::path out = options.out;
  const fs::path settings_path = out / kSettingsFile;
  if (fs::exists(settings_path)) {
    const json earlier = read_json_file(settings_path);
    if (!earlier.contains("fingerprint") || earlier["fingerprint"] != r.fingerprint)
      fail(
          "{} holds an eval of other settings (they differ in: {}); resume with the same command, "
          "or use another --out",
          out.string(),
          earlier.contains("fingerprint")
              ? fingerprint_difference(earlier["fingerprint"], r.fingerprint)
              : "everything");
  } else {
    fs::create_directories(out / "features");
    write_json_atomic(settings_path, {{"artifact", "eval-settings"},
                                      {"fingerprint", r.fingerprint},
                                      {"device", options.device}});
  }
  fs::create_directories(out / "features");
  if (r.generate && options.keep_images) {
    json list = json::array();
    for (const auto& it : r.items) list.push_back({{"id", it.id}, {"caption", it.caption}});
    write_json_atomic(out / "images" / "captions.json", list);
  }
  const int total = r.batches();
  std::vector<int> mine;
  for (int k = options.shard_index; k < total; k += options.shard_count) mine.push_back(k);
  EvalProgress p;
  p.batches_total = static_cast<int>(mine.size());
  for (int k : mine)
    p.images_total += std::min<int64_t>(options.batch, r.items.size() - int64_t{k} * options.batch);
  std::vector<int> todo;
  for (int k : mine) {
    if (fs::exists(batch_file(out, k))) {
      ++p.batches_done;
      p.images_done +=
          std::min<int64_t>(options.batch, r.items.size() - int64_t{k} * options.batch);
    } else {
      todo.push_back(k);
    }
  }
  if (p.batches_done && !todo.empty())
    note(fmt::format("resuming: {} of {} batches already in {}", p.batches_done, p.batches_total,
                     (out / "features").string()));
  if (progress) progress(p);
  const auto started = Clock::now();
  int computed = 0;
  for (int k : todo) {
    const auto t0 = Clock::now();
    const Tensor images = batch_images(r, k, out);
    TensorMap f = batch_features(r, k, images);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    f["index"] = torch::arange(int64_t{k} * options.batch,
                               int64_t{k} * options.batch + images.size(0), torch::kInt64);
    write_tensors(batch_file(out, k), f,
                  {{"format", "pt"}, {"seconds", fmt::format("{:.6f}", seconds)}});
    ++computed;
    ++p.batches_done;
    p.images_done += images.size(0);
    p.elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();
    p.eta_s = p.elapsed_s / computed * (p.batches_total - p.batches_done);
    if (progress) progress(p);
  }
  for (int k = 0; k < total; ++k)
    if (!fs::exists(batch_file(out, k))) return false;
  return true;
}

namespace {

Tensor concat(const std::vector<TensorMap>& batches, const std::string& key) {
  std::vector<Tensor> parts;
  for (const auto& b : batches)
    if (b.count(key)) parts.push_back(b.at(key));
  return parts.empty() ? Tensor() : torch::cat(parts).contiguous();
}

std::vector<float> floats(const Tensor& t) {
  const Tensor c = t.to(torch::kFloat32).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

GaussianStats stats_of(const Tensor& features, const std::string& what) {
  StatsAccumulator acc(features.size(1));
  const Tensor c = features.to(torch::kFloat32).contiguous();
  acc.add(c.data_ptr<float>(), c.size(0));
  return acc.finish(what);
}

}  // namespace

EvalRecord finish_eval(const fs::path& out, const RunContext& context, const EvalNote& note) {
  const json settings = read_json_file(out / kSettingsFile);
  const json& fp = settings.at("fingerprint");
  const std::string device = settings.value("device", "cpu");
  const int64_t n = fp.at("items").get<int64_t>();
  const int batch = fp.at("batch").get<int>();
  const int total = static_cast<int>((n + batch - 1) / batch);
  std::vector<std::string> missing;
  for (int k = 0; k < total; ++k)
    if (!fs::exists(batch_file(out, k))) missing.push_back(batch_file(out, k).filename().string());
  if (!missing.empty())
    fail("{} lacks {} of its {} batches ({}): run the remaining shards, or merge their folders",
         out.string(), missing.size(), total, join_limited(missing, 4));
  std::vector<TensorMap> batches;
  double seconds = 0;
  for (int k = 0; k < total; ++k) {
    batches.push_back(read_tensors(batch_file(out, k)));
    const SafetensorsFile f(batch_file(out, k));
    if (const auto it = f.header().metadata.find("seconds"); it != f.header().metadata.end())
      seconds += std::stod(it->second);
  }
  const Tensor index = concat(batches, "index");
  if (index.numel() != n || !torch::equal(index, torch::arange(n, torch::kInt64)))
    fail("{}: the batches do not cover images 0..{} once each", out.string(), n - 1);

  EvalRecord rec;
  rec.header = ArtifactHeader::make(EvalRecord::kArtifact, EvalRecord::kSchemaVersion, context);
  rec.n = n;
  rec.source = eval_source_from_json(fp["source"]);
  rec.captions = fp["captions"].is_null() ? "" : fp["captions"].get<std::string>();
  rec.batch = batch;
  const std::string dtype = fp.at("dtype").get<std::string>();
  rec.dtype = dtype;
  rec.features_s = seconds;
  rec.images_per_s = seconds > 0 ? n / seconds : 0.0;
  const std::string ref_images = fp.value("ref_images", "");
  const fs::path ref_cache = out / "ref";
  if (!fp.at("inception").is_null()) {
    const std::string weights = fp["inception"]["file"], sha = fp["inception"]["sha256"];
    const std::string mode = fp.at("fid_mode");
    const int dims = fp.at("fid_dims");
    const Tensor feats = concat(batches, "fid");
    const GaussianStats mine = stats_of(feats, fmt::format("FID of {} images", n));
    write_fid_stats(out / "stats.npz", mine);
    rec.statistics = "stats.npz";
    EvalMetric fid;
    fid.name = "fid";
    fid.n = n;
    fid.mode = mode;
    fid.dims = dims;
    fid.weights_sha256 = sha;
    fid.definition = fid_definition(mode, dims);
    GaussianStats ref;
    bool have_ref = false;
    if (!fp.value("ref_stats", "").empty()) {
      fid.reference = fp["ref_stats"].get<std::string>();
      ref = read_fid_stats(fid.reference);
      fid.reference_sha256 = sha256_file(fid.reference);
      have_ref = true;
    } else if (!ref_images.empty()) {
      const fs::path cached =
          ref_cache / fmt::format("fid-{}-{}-{}.npz", mode, dims, sha.substr(0, 12));
      if (!fs::exists(cached)) {
        note(fmt::format("computing the FID reference statistics of {} (cached in {})", ref_images,
                         cached.string()));
        FolderStatsOptions so;
        so.images = ref_images;
        so.inception = weights;
        so.fid_mode = mode;
        so.fid_dims = dims;
        so.device = device;
        so.dtype = dtype;
        so.batch = batch;
        write_folder_stats(so, cached, {});
      }
      ref = read_fid_stats(cached);
      fid.reference = ref_images;
      have_ref = true;
    }
    if (have_ref) {
      fid.reference_n = ref.n;
      fid.value = frechet_distance(mine, ref);
      rec.metrics.push_back(fid);
    } else {
      note("no FID reference (--ref-stats or --ref-images): the statistics are in stats.npz");
    }
    if (fp.value("inception_score", false)) {
      const Tensor logits = concat(batches, "logits");
      const auto is = inception_score(floats(logits), logits.size(0), logits.size(1));
      EvalMetric m;
      m.name = "inception_score";
      m.value = is.mean;
      m.std = is.std;
      m.splits = is.splits;
      m.n = is.n;
      m.weights_sha256 = sha;
      m.definition = kIsDefinition;
      rec.metrics.push_back(m);
    }
  }
  if (!fp.at("clip").is_null()) {
    const auto& c = fp["clip"];
    const Tensor img = concat(batches, "clip_image"), txt = concat(batches, "clip_text");
    EvalMetric base;
    base.n = img.size(0);
    base.model = c["name"].get<std::string>();
    base.flavour = c["flavour"].get<std::string>();
    base.weights_sha256 = c["sha256"].get<std::string>();
    if (txt.defined()) {
      EvalMetric m = base;
      m.name = "clip_score";
      m.value = clip_score(img, txt);
      m.definition = kClipDefinition;
      rec.metrics.push_back(m);
    }
    if (!ref_images.empty()) {
      const std::string sha = base.weights_sha256;
      const fs::path cached = ref_cache / fmt::format("clip-{}.safetensors", sha.substr(0, 12));
      Tensor ref;
      if (fs::exists(cached)) {
        ref = read_tensors(cached).at("clip_image");
      } else {
        note(fmt::format("computing the CMMD reference embeddings of {} (cached in {})", ref_images,
                         cached.string()));
        const auto scorer =
            ClipScorer::load(c["folder"].get<std::string>(), c.value("tokenizer", ""));
        if (scorer->sha256() != sha)
          fail("the CLIP weights in {} changed since the run started",
               c["folder"].get<std::string>());
        scorer->to(device, dtype);
        const auto files = list_images(ref_images);
        std::vector<Tensor> parts;
        torch::InferenceMode guard;
        for (size_t a = 0; a < files.size(); a += batch)
          parts.push_back(scorer->image_embeddings(
              read_images({files.begin() + a, files.begin() + std::min(files.size(), a + batch)})));
        ref = torch::cat(parts).contiguous();
        write_tensors(cached, {{"clip_image", ref}});
      }
      EvalMetric m = base;
      m.name = "cmmd";
      m.value = cmmd(floats(img), img.size(0), floats(ref), ref.size(0), img.size(1));
      m.reference = ref_images;
      m.reference_n = ref.size(0);
      m.definition = kCmmdDefinition;
      rec.metrics.push_back(m);
    }
  }
  std::sort(rec.metrics.begin(), rec.metrics.end(),
            [](const EvalMetric& x, const EvalMetric& y) { return x.name < y.name; });
  rec.write(out / "eval.json");
  return rec;
}

EvalRecord merge_eval(const std::vector<fs::path>& shards, const fs::path& out,
                      const RunContext& context, const EvalNote& note) {
  if (shards.empty()) fail("eval merge needs the shard folders to merge");
  json first;
  for (const auto& s : shards) {
    const json j = read_json_file(s / kSettingsFile);
    if (first.is_null()) {
      first = j;
    } else if (j.at("fingerprint") != first.at("fingerprint")) {
      fail("{} is an eval of other settings than {} (they differ in: {})", s.string(),
           shards[0].string(), fingerprint_difference(first["fingerprint"], j["fingerprint"]));
    }
  }
  if (fs::exists(out / kSettingsFile) &&
      read_json_file(out / kSettingsFile).at("fingerprint") != first.at("fingerprint"))
    fail("{} holds an eval of other settings than the shards", out.string());
  fs::create_directories(out / "features");
  write_json_atomic(out / kSettingsFile, first);
  int copied = 0;
  for (const auto& s : shards) {
    if (fs::equivalent(s, out)) continue;
    for (const auto& sub : {"features", "images"}) {
      if (!fs::is_directory(s / sub)) continue;
      for (const auto& e : fs::directory_iterator(s / sub)) {
        const fs::path dst = out / sub / e.path().filename();
        if (fs::exists(dst)) continue;
        fs::create_directories(dst.parent_path());
        fs::copy_file(e.path(), dst.string() + ".part", fs::copy_options::overwrite_existing);
        fs::rename(dst.string() + ".part", dst);
        copied += std::string(sub) == "features";
      }
    }
  }
  note(fmt::format("merged {} batch file(s) from {} shard folder(s) into {}", copied, shards.size(),
                   out.string()));
  return finish_eval(out, context, note);
}

void write_folder_stats(const FolderStatsOptions& o, const fs::path& npz,
                        const EvalProgressFn& progress) {
  if (o.batch <= 0) fail("--batch must be positive, got {}", o.batch);
  const auto files = list_images(o.images);
  const auto [w0, h0] = check_same_size(files);
  require_enough_for_fid(static_cast<int64_t>(files.size()), o.fid_dims,
                         fmt::format("FID statistics of {}", o.images));
  const auto mode = parse_inception_preprocess(o.fid_mode);
  const auto net = FidInception::load(o.inception);
  net->to(o.device, o.dtype);
  StatsAccumulator acc(o.fid_dims);
  EvalProgress p;
  p.images_total = static_cast<int64_t>(files.size());
  p.batches_total = static_cast<int>((files.size() + o.batch - 1) / o.batch);
  const auto started = Clock::now();
  torch::InferenceMode guard;
  for (size_t a = 0; a < files.size(); a += o.batch) {
    const Tensor images =
        read_images({files.begin() + a, files.begin() + std::min(files.size(), a + o.batch)});
    if (images.size(2) != h0 || images.size(3) != w0)
      fail("'{}' is {}x{} but '{}' is {}x{}: an image set must be of one size", files[a].string(),
           images.size(3), images.size(2), files[0].string(), w0, h0);
    Tensor pool;
    net->forward(images, mode, o.fid_dims, {&pool, nullptr});
    pool = pool.cpu().contiguous();
    acc.add(pool.data_ptr<float>(), pool.size(0));
    ++p.batches_done;
    p.images_done += images.size(0);
    p.elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();
    p.eta_s = p.elapsed_s / p.batches_done * (p.batches_total - p.batches_done);
    if (progress) progress(p);
  }
  write_fid_stats(npz, acc.finish(fmt::format("FID statistics of {}", o.images)));
}

}  // namespace asdm
