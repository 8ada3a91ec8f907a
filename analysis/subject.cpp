#include "analysis/subject.h"

#include <set>

#include <nlohmann/json.hpp>

#include "analysis/subject_impl.h"
#include "core/artifact.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/prompts.h"
#include "core/sha256.h"
#include "eval/clip_scorer.h"
#include "eval/images.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "model/unet.h"
#include "proxy/metrics.h"
#include "sd/sd_pipeline.h"
#include "sd/vae.h"

namespace asdm {

AblationSubject::AblationSubject(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {
  ASDM_CHECK(impl_ && impl_->unet, "an ablation subject without a UNet");
}
AblationSubject::~AblationSubject() = default;

const UNet& AblationSubject::unet() const { return *impl_->unet; }

AblationSubject AblationSubject::with_edits(const std::vector<Edit>& edits) const {
  ArchSpec spec = impl_->unet->spec();
  spec.edits.insert(spec.edits.end(), edits.begin(), edits.end());
  auto variant = std::make_shared<UNet>(spec);
  variant->to(impl_->unet->device(), impl_->unet->dtype());
  {
    torch::NoGradGuard no_grad;
    const auto from = impl_->unet->module().named_parameters();
    for (auto& p : variant->module().named_parameters()) {
      const auto* src = from.find(p.key());
      if (!src)
        fail("a variant with edits that add tensors cannot share the teacher's weights (new: {})",
             p.key());
      p.value().copy_(*src);
    }
    const auto from_buffers = impl_->unet->module().named_buffers();
    for (auto& b : variant->module().named_buffers())
      if (const auto* src = from_buffers.find(b.key())) b.value().copy_(*src);
  }
  auto impl = std::make_shared<Impl>(*impl_);
  impl->unet = variant.get();
  impl->owner = std::make_shared<std::pair<std::shared_ptr<void>, std::shared_ptr<UNet>>>(
      impl_->owner, variant);
  return AblationSubject(impl);
}
std::string AblationSubject::device() const { return impl_->device; }
const std::string& AblationSubject::description() const { return impl_->description; }
const std::vector<std::string>& AblationSubject::prompts() const { return impl_->prompts; }
int AblationSubject::num_prompts() const { return static_cast<int>(impl_->prompts.size()); }
const std::string& AblationSubject::prompts_sha256() const { return impl_->prompts_sha256; }
const std::vector<int64_t>& AblationSubject::sample_shape() const { return impl_->sample_shape; }
const SchedulerConfig& AblationSubject::scheduler() const { return impl_->scheduler; }
double AblationSubject::default_guidance() const { return impl_->default_guidance; }
bool AblationSubject::has_unconditional() const { return impl_->has_unconditional; }
double AblationSubject::output_range() const { return impl_->output_range; }
const std::string& AblationSubject::output_space() const { return impl_->output_space; }
bool AblationSubject::has_quality() const { return static_cast<bool>(impl_->quality); }

at::Tensor AblationSubject::predict(const at::Tensor& x, double t, const std::vector<int>& prompts,
                                    UnitObserver* observer) const {
  ASDM_CHECK(int64_t(prompts.size()) == x.size(0), "{} prompts for a batch of {}", prompts.size(),
             x.size(0));
  std::vector<int64_t> rows;
  for (int p : prompts) {
    ASDM_CHECK(p >= -1 && p < num_prompts(), "prompt index {} of {}", p, num_prompts());
    ASDM_CHECK(p >= 0 || impl_->has_unconditional, "no unconditional embedding");
    rows.push_back(p + 1);
  }
  const at::Tensor index = torch::tensor(rows, torch::kInt64).to(impl_->device);
  std::map<std::string, at::Tensor> c;
  for (const auto& [name, all] : impl_->cond) c[name] = all.index_select(0, index);
  AddedConditions added;
  auto get = [&](const char* name) { return c.count(name) ? &c.at(name) : nullptr; };
  added.class_labels = get("class_labels");
  added.text_embeds = get("text_embeds");
  added.time_ids = get("time_ids");
  added.timestep_cond = get("timestep_cond");
  const at::Tensor ts =
      torch::full({x.size(0)}, t, torch::TensorOptions().dtype(torch::kFloat32).device(x.device()));
  return impl_->unet->forward(x, ts, c.at("encoder_hidden_states"), added, observer);
}

at::Tensor AblationSubject::to_output(const at::Tensor& samples) const {
  if (impl_->to_output) return impl_->to_output(samples);
  return samples.detach().to(torch::kCPU, torch::kFloat32);
}

std::map<std::string, double> AblationSubject::quality(const at::Tensor& samples,
                                                       const std::vector<int>& prompts,
                                                       uint64_t seed) const {
  if (!impl_->quality) return {};
  return impl_->quality(samples, prompts, seed);
}

void AblationSubject::Impl::fingerprint() {
  std::string bytes;
  for (const auto& [name, t] : cond) {
    const at::Tensor c = t.to(torch::kCPU, torch::kFloat32).contiguous();
    bytes += name;
    bytes.append(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * sizeof(float));
  }
  for (const auto& p : prompts) bytes += p + "\n";
  prompts_sha256 = sha256_hex(bytes);
}

const std::vector<std::string>& embedding_names() {
  static const std::vector<std::string> names = {"encoder_hidden_states", "class_labels",
                                                 "text_embeds", "time_ids", "timestep_cond"};
  return names;
}

AblationSubject load_embeddings_subject(const std::filesystem::path& model,
                                        const std::filesystem::path& embeddings,
                                        const std::filesystem::path& scheduler,
                                        const std::string& device, const std::string& dtype) {
  auto impl = std::make_shared<AblationSubject::Impl>();
  LoadOptions lo;
  lo.device = device;
  lo.dtype = dtype;
  std::shared_ptr<UNet> unet = load_unet(model, lo);
  impl->owner = unet;
  impl->unet = unet.get();
  impl->device = device;
  const UNetConfig& cfg = unet->layout().config;
  impl->sample_shape = {cfg.in_channels, cfg.sample_size, cfg.sample_size};

  // The scheduler: given, the pipeline's, or SD 1.x's.
  std::filesystem::path sched = scheduler;
  if (sched.empty()) {
    const ModelFiles files = locate_model(model);
    for (const auto& dir : {std::filesystem::path(model), files.dir.parent_path()}) {
      if (!dir.empty() && std::filesystem::exists(dir / "scheduler" / "scheduler_config.json")) {
        sched = dir / "scheduler" / "scheduler_config.json";
        break;
      }
    }
  }
  if (!sched.empty()) impl->scheduler = read_scheduler_config(sched.string());

  // The embeddings.
  if (!std::filesystem::exists(embeddings))
    fail("embeddings file {} does not exist", embeddings.string());
  SafetensorsFile file(embeddings);
  const auto& known = embedding_names();
  std::map<std::string, at::Tensor> cond, uncond;
  for (const auto& e : file.header().tensors) {
    const bool negative = e.name.rfind("negative_", 0) == 0;
    const std::string name = negative ? e.name.substr(9) : e.name;
    if (std::find(known.begin(), known.end(), name) == known.end())
      fail("{}: unknown tensor '{}' (known: {}, and negative_<name> for the unconditional inputs)",
           embeddings.string(), e.name, join_limited(known, 10));
    (negative ? uncond : cond)[name] = read_tensor(file, e).to(torch::kFloat32);
  }
  if (!cond.count("encoder_hidden_states"))
    fail("{}: no 'encoder_hidden_states' tensor ([prompts, tokens, {}])", embeddings.string(),
         cfg.cross_attention_dim.empty() ? 0 : cfg.cross_attention_dim[0]);
  const at::Tensor& h = cond.at("encoder_hidden_states");
  if (h.dim() != 3 || h.size(0) < 1)
    fail("{}: encoder_hidden_states must be [prompts, tokens, dim] (got {})", embeddings.string(),
         shape_string(h.sizes().vec()));
  const int64_t n = h.size(0);
  if (!cfg.cross_attention_dim.empty() && h.size(2) != cfg.cross_attention_dim[0])
    fail("{}: encoder_hidden_states has dim {}, the UNet's cross_attention_dim is {}",
         embeddings.string(), h.size(2), cfg.cross_attention_dim[0]);
  std::vector<std::string> needed;
  if (cfg.class_embed_type == "projection") needed.push_back("class_labels");
  if (cfg.addition_embed_type == "text_time")
    needed.insert(needed.end(), {"text_embeds", "time_ids"});
  if (cfg.time_cond_proj_dim > 0) needed.push_back("timestep_cond");
  for (const auto& name : needed)
    if (!cond.count(name))
      fail("{}: the UNet's config needs '{}' ([prompts, ...])", embeddings.string(), name);
  for (const auto& [name, t] : cond)
    if (t.dim() < 1 || t.size(0) != n)
      fail("{}: '{}' has {} rows, encoder_hidden_states {}", embeddings.string(), name,
           t.dim() ? t.size(0) : 0, n);
  impl->has_unconditional = !uncond.empty();
  if (impl->has_unconditional) {
    for (const auto& [name, t] : cond) {
      if (!uncond.count(name))
        fail("{}: has negative inputs but no 'negative_{}'; give every input's negative or none",
             embeddings.string(), name);
      std::vector<int64_t> want(t.sizes().begin(), t.sizes().end());
      want[0] = 1;
      if (uncond.at(name).sizes() != at::IntArrayRef(want))
        fail("{}: 'negative_{}' must be {} (got {})", embeddings.string(), name, shape_string(want),
             shape_string(uncond.at(name).sizes().vec()));
    }
    for (const auto& [name, t] : uncond)
      if (!cond.count(name))
        fail("{}: 'negative_{}' without '{}'", embeddings.string(), name, name);
  }
  for (const auto& [name, t] : cond) {
    const at::Tensor u =
        impl->has_unconditional ? uncond.at(name) : torch::zeros_like(t.slice(0, 0, 1));
    impl->cond[name] = torch::cat({u, t}).to(device);
  }
  // Labels.
  const auto& meta = file.header().metadata;
  if (meta.count("prompts")) {
    try {
      impl->prompts = nlohmann::json::parse(meta.at("prompts")).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
      fail("{}: metadata 'prompts' must be a JSON list of strings ({})", embeddings.string(),
           json_error_text(e.what()));
    }
    if (int64_t(impl->prompts.size()) != n)
      fail("{}: metadata lists {} prompts for {} embeddings", embeddings.string(),
           impl->prompts.size(), n);
  } else {
    for (int64_t i = 0; i < n; ++i) impl->prompts.push_back(fmt::format("embedding {}", i));
  }
  impl->description = fmt::format("UNet {} with {} text embeddings from {}", model.string(), n,
                                  embeddings.string());
  impl->default_guidance = 7.5;
  impl->output_space = "final latents (PSNR/SSIM data range: each teacher sample's max - min)";
  impl->fingerprint();
  return AblationSubject(impl);
}

bool is_sd_pipeline_path(const std::filesystem::path& model) {
  // asdm's proxy pipelines carry a model_index.json too (class AsdmProxyPipeline) and a proxy.json.
  return (std::filesystem::exists(model / "model_index.json") &&
          !std::filesystem::exists(model / "proxy.json")) ||
         (std::filesystem::is_regular_file(model) &&
          std::set<std::string>{".safetensors", ".ckpt", ".pt", ".pth", ".bin"}.count(
              model.extension().string()));
}

AblationSubject load_sd_subject(const std::filesystem::path& pipeline,
                                const std::filesystem::path& prompts_file,
                                const std::filesystem::path& config, const std::string& device,
                                const std::string& dtype, int resolution, int latent_side,
                                const std::filesystem::path& clip) {
  std::shared_ptr<SdPipeline> pipe = SdPipeline::load(pipeline, device, dtype, config);
  const std::vector<std::string> prompts = read_prompts(prompts_file.string());  // fails when empty
  auto impl = std::make_shared<AblationSubject::Impl>();
  impl->owner = pipe;
  impl->unet = &pipe->unet();
  impl->device = device;
  const UNetConfig& cfg = pipe->unet().layout().config;
  const int factor = pipe->vae().downscale();
  if (resolution < 0 || resolution % factor != 0)
    fail("--resolution {} is not a positive multiple of the VAE's factor {}", resolution, factor);
  const int64_t side = latent_side > 0  ? latent_side
                       : resolution > 0 ? resolution / factor
                                        : cfg.sample_size;
  impl->sample_shape = {cfg.in_channels, side, side};
  impl->scheduler = pipe->scheduler();
  const PromptEmbeddings e =
      pipe->encode_prompts(prompts, {}, /*guidance=*/2.0);  // > 1: with the negative
  auto first = [](const at::Tensor& t) { return t.slice(0, 0, 1); };
  impl->cond["encoder_hidden_states"] = torch::cat({first(e.uncond), e.cond});
  if (pipe->family() == PipelineFamily::kSdxl) {
    const double pixels = double(side) * factor;
    const int64_t rows = int64_t(prompts.size()) + 1;
    impl->cond["text_embeds"] = torch::cat({first(e.uncond_pooled), e.pooled});
    impl->cond["time_ids"] =
        torch::tensor({pixels, pixels, 0.0, 0.0, pixels, pixels}, torch::kFloat32)
            .to(impl->cond["text_embeds"].device())
            .unsqueeze(0)
            .expand({rows, 6})
            .contiguous();
  }
  impl->has_unconditional = true;
  impl->prompts = prompts;
  impl->description = fmt::format("Stable Diffusion pipeline {} with {} prompts from {}",
                                  pipeline.string(), prompts.size(), prompts_file.string());
  impl->default_guidance = 7.5;
  impl->output_space = "final latents (PSNR/SSIM data range: each teacher sample's max - min)";
  if (!clip.empty()) {
    std::shared_ptr<ClipScorer> scorer = ClipScorer::load(clip);
    scorer->to(device, dtype);
    const at::Tensor text = scorer->text_embeddings(prompts);
    impl->owner =
        std::make_shared<std::pair<std::shared_ptr<SdPipeline>, std::shared_ptr<ClipScorer>>>(
            pipe, scorer);
    const SdPipeline* p = pipe.get();
    impl->quality = [p, scorer, text](const at::Tensor& samples, const std::vector<int>& idx,
                                      uint64_t) {
      torch::InferenceMode guard;
      const at::Tensor images = to_uint8_images(p->decode(samples));
      std::vector<int64_t> rows(idx.begin(), idx.end());
      const at::Tensor txt = text.index_select(0, torch::tensor(rows, torch::kInt64));
      return std::map<std::string, double>{
          {"clip_score", clip_score(scorer->image_embeddings(images), txt)}};
    };
    impl->description +=
        fmt::format("; CLIP score with {} ({})", scorer->name(), scorer->flavour());
  }
  impl->fingerprint();
  return AblationSubject(impl);
}

AblationSubject load_subject(const SubjectSource& o,
                             const std::function<void(const std::string&)>& note) {
  if (o.model.empty()) fail("--model is required");
  if (o.prompts.empty() == o.embeddings.empty())
    fail(
        "give one of --prompts (a text file, for a proxy or Stable Diffusion pipeline) or "
        "--embeddings (a safetensors file, for a bare UNet)");
  const bool sd = !o.prompts.empty() && is_sd_pipeline_path(o.model);
  if (!o.prompts.empty() && !sd &&
      !std::filesystem::exists(std::filesystem::path(o.model) / "proxy.json"))
    fail(
        "{} is neither a proxy pipeline (proxy.json) nor a Stable Diffusion pipeline folder "
        "(model_index.json): --prompts needs a text encoder; for a bare UNet pass --embeddings "
        "FILE of precomputed text embeddings (see --help)",
        o.model);
  if (!o.config.empty() && o.prompts.empty())
    fail("--config goes with a single-file --model and --prompts");
  const std::string dtype(to_string(parse_dtype(o.dtype)));
  if (o.resolution != 0 && !(sd && !o.prompts.empty()))
    fail("--resolution goes with a Stable Diffusion pipeline and --prompts");
  if (o.prompts.empty())
    return load_embeddings_subject(o.model, o.embeddings, o.scheduler, o.device, dtype);
  if (!o.clip.empty() && !sd)
    fail("--clip scores the samples of a Stable Diffusion pipeline (--model PIPELINE --prompts)");
  if (sd)
    return load_sd_subject(o.model, o.prompts, o.config, o.device, dtype, o.resolution, 0, o.clip);
  if (dtype != "float32" && note)
    note("a proxy pipeline runs in its saved dtype; --dtype is ignored");
  return load_proxy_subject(o.model, o.prompts, o.classifier, o.device);
}

}  // namespace asdm
