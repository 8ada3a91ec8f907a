#include "sd/sd_pipeline.h"

#include <algorithm>
#include <set>

#include <fmt/ranges.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/log.h"
#include "core/png.h"
#include "model/checkpoint.h"
#include "model/cuda_graph.h"
#include "model/model_files.h"
#include "model/module_init.h"
#include "model/runtime.h"
#include "model/single_file.h"
#include "model/tensor_io.h"
#include "model/unet.h"
#include "model/weights_file.h"
#include "sd/clip_text.h"
#include "sd/clip_tokenizer.h"
#include "sd/vae.h"

namespace asdm {

namespace fs = std::filesystem;
using torch::Tensor;

const char* to_string(PipelineStage s) {
  switch (s) {
    case PipelineStage::kTextEncoder:
      return "text_encoder";
    case PipelineStage::kUnet:
      return "unet";
    default:
      return "vae";
  }
}

struct SdPipeline::Impl {
  fs::path dir, config_dir;
  PipelineFamily family = PipelineFamily::kSd;
  bool zeros_for_empty_negative = false;  // SDXL's force_zeros_for_empty_prompt
  std::vector<std::unique_ptr<ClipTokenizer>> tokenizers;
  std::vector<std::unique_ptr<ClipTextModel>> encoders;
  std::unique_ptr<UNet> unet;
  std::unique_ptr<Vae> vae;
  SchedulerConfig scheduler;
  std::string device = "cpu", dtype = "float32";
  // GenerateOptions::graphs: each denoising step as a CUDA graph, kept across generate calls
  // while the UNet (its generation: replace_unet counts), the input shapes and the guidance scale
  // stay the same, as a deployed pipeline keeps its graph.
  int unet_generation = 0;
  struct StepGraph {
    std::vector<int64_t> key;
    double guidance = 0;
    std::unique_ptr<GraphedFunction> fn;
  };
  mutable StepGraph step_graph;
};

SdPipeline::SdPipeline() : impl_(std::make_unique<Impl>()) {}
SdPipeline::~SdPipeline() = default;

namespace {

// Fills a component's parameters from an original single-file checkpoint through ldm_source().
// Strict for the UNet and VAE (every tensor under their prefixes used, shapes equal); text
// encoders may leave tensors unused (SD 2.x's 24th OpenCLIP layer, logit_scale, position_ids).
void fill_from_single_file(torch::nn::Module& module, const std::string& component,
                           const SingleFileLayout& layout, const WeightsFile& file,
                           std::set<std::string>& used, bool ema = false) {
  std::vector<std::string> problems;
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    const std::string& name = item.key();
    Tensor& param = item.value();
    LdmSource src = ldm_source(component, name, layout);
    if (ema) src.key = ldm_ema_key(src.key);
    if (!file.contains(src.key)) {
      problems.push_back("missing " + src.key);
      continue;
    }
    used.insert(src.key);
    Tensor t = file.map(src.key);  // the file's bytes where it can: one copy, into `param`
    if (!t.defined()) t = file.read(src.key);
    if (src.chunk >= 0) {
      if (t.dim() < 1 || t.size(0) % 3) {
        problems.push_back(fmt::format("{} {} is not three fused projections", src.key,
                                       shape_string(t.sizes().vec())));
        continue;
      }
      t = t.chunk(3, 0)[src.chunk];
    }
    if (src.transpose && t.dim() == 2) t = t.t();
    if (src.conv_1x1 && t.dim() == 4 && t.size(2) == 1 && t.size(3) == 1) t = t.flatten(1);
    if (t.sizes() != param.sizes()) {
      problems.push_back(fmt::format("{} is {}, {} needs {}", src.key,
                                     shape_string(t.sizes().vec()), name,
                                     shape_string(param.sizes().vec())));
      continue;
    }
    param.copy_(t);
  }
  if (!problems.empty())
    fail("{} {} does not match its config: {}", file.path().string(), component,
         join_limited(problems, 6));
}

}  // namespace

std::unique_ptr<SdPipeline> SdPipeline::load(const fs::path& model, const std::string& device,
                                             const std::string& dtype, const fs::path& config) {
  const bool single = fs::is_regular_file(model);
  if (single && config.empty()) {
    open_weights_file(model);  // a file asdm cannot read says so first
    fail(
        "'{}' is a single-file checkpoint, which carries no configs or tokenizer: pass --config "
        "with a diffusers "
        "pipeline folder of the same family (only its configs and tokenizer are read)",
        model.string());
  }
  if (!single && !config.empty())
    fail("--config is for single-file checkpoints; '{}' is a pipeline folder with its own configs",
         model.string());
  // A single file's family first: a file asdm cannot read is the first thing to say.
  std::unique_ptr<WeightsFile> file;
  std::vector<std::string> keys;
  SingleFileLayout layout;
  if (single) {
    file = open_weights_file(model);
    keys = file->names();
    layout.family = detect_single_file_family(keys);
  }
  const fs::path dir = single ? config : model;
  const fs::path index = dir / "model_index.json";
  if (!fs::is_directory(dir)) fail("pipeline folder '{}' does not exist", dir.string());
  if (!fs::exists(index))
    fail("'{}' is not a diffusers pipeline folder: it has no model_index.json", dir.string());
  const auto j = read_json_file(index);
  const std::string cls = j.is_object() ? j.value("_class_name", "") : "";
  std::unique_ptr<SdPipeline> p(new SdPipeline());
  auto& m = *p->impl_;
  m.dir = model;
  m.config_dir = dir;
  m.device = device;
  m.dtype = dtype;
  std::vector<std::string> parts = {"tokenizer", "text_encoder", "unet", "vae", "scheduler"};
  if (cls.rfind("StableDiffusionXL", 0) == 0) {
    m.family = PipelineFamily::kSdxl;
    parts.insert(parts.begin() + 2, {"tokenizer_2", "text_encoder_2"});
    m.zeros_for_empty_negative = j.value("force_zeros_for_empty_prompt", true);
  } else if (cls.rfind("StableDiffusion", 0) != 0) {
    fail(
        "'{}': pipeline class '{}' is not a Stable Diffusion pipeline (asdm runs "
        "StableDiffusionPipeline and "
        "StableDiffusionXLPipeline folders)",
        index.string(), cls);
  }
  for (const auto& part : parts)
    if (!fs::is_directory(dir / part))
      fail("pipeline folder '{}' has no {}/ folder (a {} needs {})", dir.string(), part, cls,
           join_limited(parts));

  for (const char* tok : {"tokenizer", "tokenizer_2"})
    if (fs::is_directory(dir / tok) &&
        (tok == std::string("tokenizer") || m.family == PipelineFamily::kSdxl))
      m.tokenizers.push_back(std::make_unique<ClipTokenizer>(ClipTokenizer::load(dir / tok)));
  std::vector<std::string> encoders = {"text_encoder"};
  if (m.family == PipelineFamily::kSdxl) encoders.push_back("text_encoder_2");

  auto config_of = [&](const std::string& part) {
    const fs::path f = dir / part / "config.json";
    if (!fs::exists(f)) fail("pipeline folder '{}' has no {}/config.json", dir.string(), part);
    return read_json_file(f);
  };
  if (single) {
    if ((layout.family == SingleFileFamily::kSdxl) != (m.family == PipelineFamily::kSdxl))
      fail("'{}' is an {} checkpoint but --config '{}' is a {} folder", model.string(),
           to_string(layout.family), dir.string(), cls);
    std::set<std::string> used;
    for (const auto& enc : encoders) {
      try {
        const ClipTextConfig config = parse_clip_text_config(config_of(enc));
        SkipInitGuard skip;  // fill_from_single_file fills every parameter or fails
        m.encoders.push_back(std::make_unique<ClipTextModel>(config));
      } catch (const Error& e) {
        fail("'{}': {}", (dir / enc / "config.json").string(), e.what());
      }
      fill_from_single_file(m.encoders.back()->module(), enc, layout, *file, used);
    }
    ArchSpec spec = load_arch(locate_model(dir / "unet"));
    if (!spec.edits.empty())
      fail("--config '{}' has a pruned student UNet; single files hold teachers", dir.string());
    layout.unet = spec.teacher;
    {
      SkipInitGuard skip;
      m.unet = std::make_unique<UNet>(spec);
    }
    const bool ema = use_single_file_ema(model.string(), keys);
    fill_from_single_file(m.unet->module(), "unet", layout, *file, used, ema);
    VaeConfig vc;
    try {
      vc = parse_vae_config(config_of("vae"));
    } catch (const Error& e) {
      fail("'{}': {}", (dir / "vae" / "config.json").string(), e.what());
    }
    layout.vae_stages = int(vc.block_out_channels.size());
    {
      SkipInitGuard skip;
      m.vae = std::make_unique<Vae>(vc);
    }
    fill_from_single_file(m.vae->module(), "vae", layout, *file, used);
    std::vector<std::string> unused;
    for (const auto& k : keys)
      if (!used.count(k) && ((!ema && k.rfind("model.diffusion_model.", 0) == 0) ||
                             k.rfind("first_stage_model.", 0) == 0))
        unused.push_back(k);
    if (!unused.empty())
      fail("{} has tensors its --config does not use (a different architecture?): {}",
           model.string(), join_limited(unused, 6));
    for (auto& e : m.encoders) move_module(e->module(), device, dtype);
    m.unet->to(device, dtype);
  } else {
    for (const auto& enc : encoders) {
      m.encoders.push_back(ClipTextModel::load(dir / enc));
      move_module(m.encoders.back()->module(), device, dtype);
    }
    LoadOptions lo;
    lo.device = device;
    lo.dtype = dtype;
    m.unet = load_unet(dir / "unet", lo);
    m.vae = Vae::load(dir / "vae");
  }
  // SDXL's VAE overflows in float16 (black or NaN images): diffusers' SDXL pipelines decode in
  // float32 when the VAE's config says force_upcast (its default), and so does asdm.
  const bool upcast = m.family == PipelineFamily::kSdxl && parse_dtype(dtype) == DType::kFloat16 &&
                      m.vae->config().force_upcast;
  m.vae->to(device, upcast ? "float32" : dtype);
  if (upcast)
    log::info(
        "the VAE runs in float32 (its config's force_upcast, as in diffusers' SDXL pipeline)");
  const fs::path sched = dir / "scheduler" / "scheduler_config.json";
  if (!fs::exists(sched))
    fail("pipeline folder '{}' has no scheduler/scheduler_config.json", dir.string());
  m.scheduler = read_scheduler_config(sched.string());

  // The components must fit together.
  const auto& uc = m.unet->spec().teacher;
  int text_dim = 0;
  for (const auto& e : m.encoders) text_dim += e->config().hidden_size;
  for (int d : uc.cross_attention_dim)
    if (d != text_dim)
      fail(
          "pipeline '{}': the text encoder width {} does not match the UNet's cross_attention_dim "
          "{}",
          dir.string(), text_dim, d);
  if (uc.in_channels != m.vae->config().latent_channels)
    fail("pipeline '{}': the UNet takes {} channels, the VAE's latents have {}", dir.string(),
         uc.in_channels, m.vae->config().latent_channels);
  for (size_t i = 0; i < m.encoders.size(); ++i)
    if (m.tokenizers[i]->model_max_length() > m.encoders[i]->config().max_position_embeddings)
      fail("pipeline '{}': tokenizer {} pads to {} tokens, its text encoder has {} positions",
           dir.string(), i + 1, m.tokenizers[i]->model_max_length(),
           m.encoders[i]->config().max_position_embeddings);
  if (m.family == PipelineFamily::kSdxl && uc.addition_embed_type != "text_time")
    fail("pipeline '{}' is an SDXL pipeline but its UNet has no text_time added embedding",
         dir.string());
  return p;
}

PipelineFamily SdPipeline::family() const { return impl_->family; }
const fs::path& SdPipeline::dir() const { return impl_->dir; }
const SchedulerConfig& SdPipeline::scheduler() const { return impl_->scheduler; }
const ClipTokenizer& SdPipeline::tokenizer(int i) const { return *impl_->tokenizers.at(i); }
const ClipTextModel& SdPipeline::text_encoder(int i) const { return *impl_->encoders.at(i); }
const Vae& SdPipeline::vae() const { return *impl_->vae; }
UNet& SdPipeline::unet() { return *impl_->unet; }
const UNet& SdPipeline::unet() const { return *impl_->unet; }
std::string SdPipeline::device() const { return impl_->device; }
std::string SdPipeline::dtype() const { return impl_->unet->dtype(); }

std::unique_ptr<UNet> SdPipeline::replace_unet(std::unique_ptr<UNet> unet) {
  const auto& old = impl_->unet->spec().teacher;
  const auto& now = unet->spec().teacher;
  if (now.cross_attention_dim != old.cross_attention_dim || now.in_channels != old.in_channels ||
      now.addition_embed_type != old.addition_embed_type)
    fail(
        "the replacement UNet does not fit this pipeline (cross_attention_dim {} vs {}, "
        "in_channels {} vs {})",
        fmt::join(now.cross_attention_dim, ","), fmt::join(old.cross_attention_dim, ","),
        now.in_channels, old.in_channels);
  unet->to(impl_->device, impl_->dtype);
  std::swap(unet, impl_->unet);
  ++impl_->unet_generation;
  impl_->step_graph = {};
  return unet;
}

Tensor SdPipeline::tokenize(const std::vector<std::string>& texts, int index) const {
  const auto& tok = *impl_->tokenizers.at(index);
  const int64_t T = tok.model_max_length();
  Tensor ids = torch::empty({int64_t(texts.size()), T}, torch::kInt64);
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto row = tok.encode_padded(texts[i]);
    std::copy(row.begin(), row.end(), ids[int64_t(i)].data_ptr<int64_t>());
  }
  return ids;
}

PromptEmbeddings SdPipeline::encode_prompts(const std::vector<std::string>& prompts,
                                            const std::vector<std::string>& negatives,
                                            double guidance, int clip_skip) const {
  const auto& m = *impl_;
  if (prompts.empty()) fail("no prompts to encode");
  if (negatives.size() > 1 && negatives.size() != prompts.size())
    fail("{} negative prompts for {} prompts (give none, one, or one per prompt)", negatives.size(),
         prompts.size());
  std::vector<std::string> neg(prompts.size(), negatives.empty() ? std::string() : negatives[0]);
  if (negatives.size() > 1) neg = negatives;
  const bool cfg = guidance > 1.0;
  const bool zero_neg = m.zeros_for_empty_negative && negatives.empty();
  torch::NoGradGuard no_grad;
  PromptEmbeddings out;
  // SD: the last hidden state (clip_skip: an earlier one, normed). SDXL: each encoder's hidden
  // state before its last clip_skip + 1 layers, unnormed, concatenated; the second's pooled output.
  auto embed = [&](const std::vector<std::string>& texts, Tensor* pooled) {
    std::vector<Tensor> parts;
    for (size_t e = 0; e < m.encoders.size(); ++e) {
      const Tensor ids = tokenize(texts, int(e)).to(torch::Device(m.device));
      const bool last = e + 1 == m.encoders.size();
      if (m.family == PipelineFamily::kSd)
        parts.push_back(m.encoders[e]->encode(ids, clip_skip, true));
      else
        parts.push_back(m.encoders[e]->encode(ids, clip_skip + 1, false, last ? pooled : nullptr));
    }
    return parts.size() == 1 ? parts[0] : torch::cat(parts, -1);
  };
  out.cond = embed(prompts, m.family == PipelineFamily::kSdxl ? &out.pooled : nullptr);
  if (cfg) {
    if (zero_neg) {
      out.uncond = torch::zeros_like(out.cond);
      if (out.pooled.defined()) out.uncond_pooled = torch::zeros_like(out.pooled);
    } else {
      out.uncond = embed(neg, m.family == PipelineFamily::kSdxl ? &out.uncond_pooled : nullptr);
    }
  }
  return out;
}

SamplerOptions SdPipeline::sampler_options(const GenerateOptions& o) const {
  const auto& sc = impl_->scheduler;
  SamplerOptions s = with_scheduler({}, sc);
  s.sampler = o.sampler;
  if (s.sampler.empty()) {
    if (!sc.sampler_error.empty())
      fail("{}: {}", (impl_->config_dir / "scheduler").string(), sc.sampler_error);
    s.sampler = sc.sampler.empty() ? "pndm" : sc.sampler;  // diffusers' default for SD folders
  }
  s.steps = o.steps;
  s.guidance = o.guidance;
  validate(s, sc.schedule);
  return s;
}

std::pair<int, int> SdPipeline::image_size(const GenerateOptions& o) const {
  const int f = impl_->vae->downscale();
  const int base = impl_->unet->spec().teacher.sample_size * f;
  const int h = o.height > 0 ? o.height : base, w = o.width > 0 ? o.width : base;
  // The UNet takes any latent size (odd sizes upsample to the skip's size, as diffusers does).
  if (h % f || w % f || h < f || w < f)
    fail("image size {}x{} is not a positive multiple of the VAE's downscale factor {}", h, w, f);
  return {h, w};
}

Tensor SdPipeline::denoise(const PromptEmbeddings& e, const Tensor& noise, const GenerateOptions& o,
                           const StageHook& hook,
                           const std::function<void(int, int)>& step_done) const {
  const auto& m = *impl_;
  const SamplerOptions so = sampler_options(o);
  const auto [H, W] = image_size(o);
  const int64_t B = e.cond.size(0);
  const bool cfg = so.guidance > 1.0;
  // SDXL's added conditions: pooled text embeddings and (original size, crop, target size).
  Tensor text_embeds, time_ids;
  if (m.family == PipelineFamily::kSdxl) {
    const auto opts = torch::TensorOptions().device(torch::Device(m.device));
    Tensor ids =
        torch::tensor({double(H), double(W), 0.0, 0.0, double(H), double(W)}, opts).unsqueeze(0);
    text_embeds = cfg ? torch::cat({e.uncond_pooled, e.pooled}) : e.pooled;
    time_ids = ids.expand({text_embeds.size(0), 6}).contiguous();
  }
  const Tensor context = cfg ? torch::cat({e.uncond, e.cond}) : e.cond;
  // One step's model call on the device: the guidance batch, the UNet, the guidance combination.
  // Its inputs: x, the timesteps (one, or one per row of x), the text states, and SDXL's added
  // conditions.
  const double guidance = so.guidance;
  auto unet_call = [&m, cfg, guidance](const Tensor& x, const Tensor& t, const Tensor& ctx,
                                       const Tensor* extra) {
    const Tensor in = cfg ? torch::cat({x, x}) : x;
    const Tensor tb = t.expand({x.size(0)}).contiguous();
    AddedConditions added;
    if (extra) {
      added.text_embeds = &extra[0];
      added.time_ids = &extra[1];
    }
    Tensor out =
        m.unet->forward(in, cfg ? torch::cat({tb, tb}) : tb, ctx, added).to(torch::kFloat32);
    if (cfg) {
      auto parts = out.chunk(2, 0);
      out = parts[0] + guidance * (parts[1] - parts[0]);
    }
    return out;
  };
  auto extra_of = [](const std::vector<Tensor>& v, size_t first) {
    return v.size() > first ? &v[first] : nullptr;
  };
  std::vector<Tensor> conditions = {context};
  if (text_embeds.defined()) conditions.insert(conditions.end(), {text_embeds, time_ids});
  const auto to_device = [&m](const Tensor& x) { return x.to(torch::Device(m.device)); };
  // With graphs, the whole step when the sampler has a tensor step (model/sampler.h: the UNet call
  // and the sampler's arithmetic in one graph; inputs x, the previous data prediction, the step's
  // row, the conditions), else the model call alone.
  const bool whole_step = o.graphs && has_tensor_step(so);
  GraphedFunction* graphed = nullptr;
  if (o.graphs) {
    std::vector<int64_t> key = {
        m.unet_generation,     cfg, B, H, W, context.size(1), context.size(2), whole_step,
        int64_t(so.prediction)};
    const auto& names = sampler_names();
    key.push_back(std::find(names.begin(), names.end(), so.sampler) - names.begin());
    auto& g = m.step_graph;
    if (!g.fn || g.key != key || g.guidance != guidance) {
      GraphedFunction::Fn fn;
      if (whole_step) {
        fn = [unet_call, extra_of, so](const std::vector<Tensor>& v) {
          const TensorStep step = tensor_step(so, [&](const Tensor& x, const Tensor& t) {
            return unet_call(x, t, v[3], extra_of(v, 4));
          });
          auto [next, x0] = step(v[0], v[1], v[2]);
          return torch::cat({next, x0});
        };
      } else {
        fn = [unet_call, extra_of](const std::vector<Tensor>& v) {
          return unet_call(v[0], v[1], v[2], extra_of(v, 3));
        };
      }
      g.fn = std::make_unique<GraphedFunction>(m.device, fn, "generate --graphs");
      g.key = key;
      g.guidance = guidance;
    }
    graphed = g.fn.get();
  }
  if (noise.dim() != 4 || noise.size(0) != B)
    fail("noise must be [{}, channels, height, width], got {}", B,
         shape_string(noise.sizes().vec()));
  torch::NoGradGuard no_grad;
  const Tensor x_T = to_device(noise).to(torch::kFloat32);
  if (whole_step) {
    auto step = [&](const Tensor& x, const Tensor& prev, const Tensor& row) {
      if (hook) hook(PipelineStage::kUnet, true);
      std::vector<Tensor> in = {x, prev, row};
      in.insert(in.end(), conditions.begin(), conditions.end());
      const Tensor both = (*graphed)(in);
      if (hook) hook(PipelineStage::kUnet, false);
      return std::pair<Tensor, Tensor>{both.narrow(0, 0, B), both.narrow(0, B, B)};
    };
    return sample_stepwise(step, x_T, m.scheduler.schedule, so, step_done);
  }
  if (!graphed && has_tensor_step(so)) {
    // Eager, the same tensor step the graph captures (bit for bit the sampler's arithmetic on the
    // CPU), its model call alone timed as the UNet stage.
    const TensorStep step = tensor_step(so, [&](const Tensor& x, const Tensor& t) {
      if (hook) hook(PipelineStage::kUnet, true);
      Tensor out = unet_call(x, t, context, extra_of(conditions, 1));
      if (hook) hook(PipelineStage::kUnet, false);
      return out;
    });
    return sample_stepwise(step, x_T, m.scheduler.schedule, so, step_done);
  }
  auto model = [&](const Tensor& x, double t) {
    if (hook) hook(PipelineStage::kUnet, true);
    std::vector<Tensor> in = {
        x,
        torch::full({x.size(0)}, t,
                    torch::TensorOptions().dtype(torch::kFloat64).device(x.device())),
        context};
    in.insert(in.end(), conditions.begin() + 1, conditions.end());
    Tensor out = graphed ? (*graphed)(in) : unet_call(in[0], in[1], in[2], extra_of(in, 3));
    if (hook) hook(PipelineStage::kUnet, false);
    return out;
  };
  return sample(model, x_T, m.scheduler.schedule, so, step_done);
}

Tensor SdPipeline::decode(const Tensor& latents, const StageHook& hook) const {
  torch::NoGradGuard no_grad;
  if (hook) hook(PipelineStage::kVae, true);
  Tensor img = impl_->vae->decode(latents).to(torch::kFloat32);
  if (hook) hook(PipelineStage::kVae, false);
  return (img / 2 + 0.5).clamp(0, 1).cpu();
}

GenerateResult SdPipeline::generate(const GenerateOptions& o, const Tensor& noise,
                                    const StageHook& hook,
                                    const std::function<void(int, int)>& step_done) const {
  const auto [H, W] = image_size(o);
  sampler_options(o);  // fail on bad sampler settings before any work
  if (hook) hook(PipelineStage::kTextEncoder, true);
  const PromptEmbeddings e = encode_prompts(o.prompts, o.negative_prompts, o.guidance, o.clip_skip);
  if (hook) hook(PipelineStage::kTextEncoder, false);
  Tensor n = noise;
  if (!n.defined()) {
    const int f = impl_->vae->downscale();
    const std::vector<int64_t> shape = {impl_->vae->config().latent_channels, H / f, W / f};
    std::vector<Tensor> rows;
    for (size_t i = 0; i < o.prompts.size(); ++i)
      rows.push_back(prompt_noise(shape, o.seed, o.noise_offset + i));
    n = torch::cat(rows);
  }
  GenerateResult r;
  r.latents = denoise(e, n, o, hook, step_done);
  r.images = decode(r.latents, hook);
  return r;
}

std::vector<std::vector<uint8_t>> to_rgb8(const Tensor& images) {
  if (images.dim() != 4 || images.size(1) != 3)
    fail("images must be [batch, 3, height, width], got {}", shape_string(images.sizes().vec()));
  const Tensor u8 = (images.to(torch::kFloat32).cpu().clamp(0, 1) * 255)
                        .round()
                        .to(torch::kUInt8)
                        .permute({0, 2, 3, 1})
                        .contiguous();
  std::vector<std::vector<uint8_t>> out;
  for (int64_t i = 0; i < u8.size(0); ++i) {
    const uint8_t* d = u8[i].data_ptr<uint8_t>();
    out.emplace_back(d, d + u8[i].numel());
  }
  return out;
}

std::vector<fs::path> write_pngs(const Tensor& images, const fs::path& path) {
  const auto rgb = to_rgb8(images);
  const int height = int(images.size(2)), width = int(images.size(3));
  std::vector<fs::path> out;
  const size_t B = rgb.size();
  for (size_t i = 0; i < B; ++i) {
    fs::path p = path;
    if (B > 1)
      p = path.parent_path() /
          (path.stem().string() + "-" + std::to_string(i) + path.extension().string());
    if (p.has_parent_path()) fs::create_directories(p.parent_path());
    write_png(p, rgb[i].data(), width, height);
    out.push_back(p);
  }
  return out;
}

}  // namespace asdm
