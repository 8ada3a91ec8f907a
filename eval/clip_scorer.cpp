#include "eval/clip_scorer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/json_int.h"
#include "core/sha256.h"
#include "eval/pil_resize.h"
#include "eval/state_dict.h"
#include "model/model_files.h"
#include "model/module_init.h"
#include "model/module_io.h"
#include "model/runtime.h"
#include "sd/clip_layer.h"
#include "sd/clip_text.h"
#include "sd/clip_tokenizer.h"

namespace asdm {

namespace nn = torch::nn;
namespace F = torch::nn::functional;
namespace fs = std::filesystem;
using torch::Tensor;

namespace {

struct VisionConfig {
  int hidden_size = 768, intermediate_size = 3072, layers = 12, heads = 12;
  int image_size = 224, patch_size = 32, projection_dim = 512;
  bool quick_gelu = true;
  double eps = 1e-5;
};

struct VisionTower {
  VisionConfig config;
  std::shared_ptr<nn::Module> root;
  nn::Conv2d patch{nullptr};
  Tensor class_embedding;
  nn::Embedding position{nullptr};
  nn::LayerNorm pre{nullptr}, post{nullptr};
  std::vector<std::shared_ptr<ClipEncoderLayer>> layers;
  nn::Linear projection{nullptr};

  explicit VisionTower(const VisionConfig& c) : config(c) {
    root = std::make_shared<nn::Module>();
    auto vm = root->register_module("vision_model", std::make_shared<nn::Module>());
    auto emb = vm->register_module("embeddings", std::make_shared<nn::Module>());
    const int D = c.hidden_size, grid = c.image_size / c.patch_size;
    patch = emb->register_module(
        "patch_embedding",
        make_conv2d(nn::Conv2dOptions(3, D, c.patch_size).stride(c.patch_size).bias(false)));
    class_embedding = emb->register_parameter("class_embedding", torch::randn({D}));
    position = emb->register_module("position_embedding",
                                    make_embedding(nn::EmbeddingOptions(grid * grid + 1, D)));
    pre = vm->register_module("pre_layrnorm", nn::LayerNorm(nn::LayerNormOptions({D}).eps(c.eps)));
    auto enc = vm->register_module("encoder", std::make_shared<nn::Module>());
    auto list = enc->register_module("layers", std::make_shared<nn::Module>());
    for (int i = 0; i < c.layers; ++i)
      layers.push_back(list->register_module(
          std::to_string(i),
          std::make_shared<ClipEncoderLayer>(c.hidden_size, c.heads, c.intermediate_size,
                                             c.quick_gelu, c.eps, /*causal=*/false)));
    post =
        vm->register_module("post_layernorm", nn::LayerNorm(nn::LayerNormOptions({D}).eps(c.eps)));
    projection = root->register_module(
        "visual_projection", make_linear(nn::LinearOptions(D, c.projection_dim).bias(false)));
  }

  Tensor forward(const Tensor& pixels) {
    const int64_t B = pixels.size(0);
    Tensor x = patch->forward(pixels).flatten(2).transpose(1, 2);  // [B, g*g, D]
    x = torch::cat({class_embedding.view({1, 1, -1}).expand({B, 1, x.size(2)}), x}, 1);
    x = x + position->weight.unsqueeze(0);
    x = pre->forward(x);
    for (auto& l : layers) x = l->forward(x);
    return projection->forward(post->forward(x.select(1, 0)));
  }
};

// A size from a CLIP config (open_clip's or transformers'), `fallback` where the file is silent.
int config_size(const fs::path& file, const nlohmann::json& j, const char* key, int fallback) {
  if (!j.contains(key)) return fallback;
  const auto v = json_int(j[key], 1);
  if (!v)
    fail("{}: field '{}' must be a positive integer, got {}", file.string(), key, j[key].dump());
  return *v;
}

// open_clip's names -> transformers' names (attention's packed in_proj split into q, k, v; the
// projections, stored as x @ P, transposed into Linear weights).
TensorMap open_clip_to_transformers(const TensorMap& t) {
  TensorMap out;
  auto block = [&](const std::string& to, const std::string& rest, const Tensor& v) {
    static const std::vector<std::pair<std::string, std::string>> names = {
        {"ln_1.", "layer_norm1."},
        {"ln_2.", "layer_norm2."},
        {"mlp.c_fc.", "mlp.fc1."},
        {"mlp.c_proj.", "mlp.fc2."},
        {"attn.out_proj.", "self_attn.out_proj."}};
    for (const auto& [a, b] : names)
      if (rest.rfind(a, 0) == 0) {
        out[to + b + rest.substr(a.size())] = v;
        return;
      }
    if (rest == "attn.in_proj_weight" || rest == "attn.in_proj_bias") {
      const auto parts = v.chunk(3, 0);
      const std::string suffix = rest == "attn.in_proj_weight" ? "weight" : "bias";
      out[to + "self_attn.q_proj." + suffix] = parts[0];
      out[to + "self_attn.k_proj." + suffix] = parts[1];
      out[to + "self_attn.v_proj." + suffix] = parts[2];
      return;
    }
    out["unexpected." + to + rest] = v;
  };
  for (const auto& [key, v] : t) {
    std::string k = key.rfind("module.", 0) == 0 ? key.substr(7) : key;
    auto starts = [&](const std::string& p) { return k.rfind(p, 0) == 0; };
    if (k == "logit_scale" || k == "attn_mask" || k == "logit_bias") continue;
    if (k == "token_embedding.weight")
      out["text_model.embeddings.token_embedding.weight"] = v;
    else if (k == "positional_embedding")
      out["text_model.embeddings.position_embedding.weight"] = v;
    else if (starts("ln_final."))
      out["text_model.final_layer_norm." + k.substr(9)] = v;
    else if (k == "text_projection")
      out["text_projection.weight"] = v.t().contiguous();
    else if (starts("transformer.resblocks.")) {
      const std::string rest = k.substr(22);
      const auto dot = rest.find('.');
      block("text_model.encoder.layers." + rest.substr(0, dot + 1), rest.substr(dot + 1), v);
    } else if (k == "visual.conv1.weight")
      out["vision_model.embeddings.patch_embedding.weight"] = v;
    else if (k == "visual.class_embedding")
      out["vision_model.embeddings.class_embedding"] = v;
    else if (k == "visual.positional_embedding")
      out["vision_model.embeddings.position_embedding.weight"] = v;
    else if (starts("visual.ln_pre."))
      out["vision_model.pre_layrnorm." + k.substr(14)] = v;
    else if (starts("visual.ln_post."))
      out["vision_model.post_layernorm." + k.substr(15)] = v;
    else if (k == "visual.proj")
      out["visual_projection.weight"] = v.t().contiguous();
    else if (starts("visual.transformer.resblocks.")) {
      const std::string rest = k.substr(29);
      const auto dot = rest.find('.');
      block("vision_model.encoder.layers." + rest.substr(0, dot + 1), rest.substr(dot + 1), v);
    } else {
      out["unexpected." + k] = v;
    }
  }
  return out;
}

fs::path find_tokenizer(const fs::path& dir, const fs::path& override_dir) {
  if (!override_dir.empty()) return override_dir;
  for (const fs::path& d : {dir, dir / "tokenizer"})
    if ((fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt")) ||
        fs::exists(d / "tokenizer.json"))
      return d;
  fail(
      "CLIP folder '{}' has no tokenizer (vocab.json + merges.txt, here or in tokenizer/); pass "
      "--clip-tokenizer DIR with CLIP's",
      dir.string());
}

}  // namespace

struct ClipScorer::Impl {
  std::string flavour, sha256, name;
  std::unique_ptr<VisionTower> vision;
  std::unique_ptr<ClipTextModel> text;
  std::unique_ptr<ClipTokenizer> tokenizer;
  int resize_to = 224, crop_h = 224, crop_w = 224;
  bool do_resize = true, do_crop = true, bicubic = true;
  std::vector<float> mean{0.48145466f, 0.4578275f, 0.40821073f},
      std{0.26862954f, 0.26130258f, 0.27577711f};
  torch::Device device = torch::kCPU;
  c10::ScalarType dtype = torch::kFloat32;

  void load_weights(const TensorMap& t, const std::string& what) {
    TensorMap text_part, vision_part;
    std::vector<std::string> unexpected;
    for (const auto& [k, v] : t) {
      if (k.rfind("text_model.", 0) == 0 || k.rfind("text_projection.", 0) == 0)
        text_part[k] = v;
      else if (k.rfind("vision_model.", 0) == 0 || k.rfind("visual_projection.", 0) == 0)
        vision_part[k] = v;
      else if (k != "logit_scale")
        unexpected.push_back(k.rfind("unexpected.", 0) == 0 ? k.substr(11) : k);
    }
    if (!unexpected.empty())
      fail("{} is not a CLIP model of the kind its config says ({} unexpected tensors: {})", what,
           unexpected.size(), join_limited(unexpected, 6));
    // Each tensor is its own memory (read, or mapped from the file): the parameters take them.
    adopt_module_tensors(text->module(), std::move(text_part), what, "", "position_ids");
    adopt_module_tensors(*vision->root, std::move(vision_part), what, "", "position_ids");
  }
};

ClipScorer::ClipScorer() : impl_(std::make_unique<Impl>()) {}
ClipScorer::~ClipScorer() = default;
const std::string& ClipScorer::flavour() const { return impl_->flavour; }
const std::string& ClipScorer::sha256() const { return impl_->sha256; }
const std::string& ClipScorer::name() const { return impl_->name; }
int ClipScorer::image_size() const { return impl_->vision->config.image_size; }

std::unique_ptr<ClipScorer> ClipScorer::load(const fs::path& dir, const fs::path& tokenizer_dir) {
  if (!fs::is_directory(dir)) fail("CLIP model '{}' is not a folder", dir.string());
  std::unique_ptr<ClipScorer> s(new ClipScorer());
  auto& m = *s->impl_;
  m.name = fs::absolute(dir).lexically_normal().filename().string();
  if (m.name.empty())
    m.name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
  VisionConfig vc;
  ClipTextConfig tc;
  std::vector<fs::path> weights;  // one file, or a transformers checkpoint's shards
  TensorMap tensors;
  if (fs::exists(dir / "open_clip_config.json")) {
    m.flavour = "open_clip";
    const fs::path file = dir / "open_clip_config.json";
    const auto j = read_json_file(file);
    const auto& mc = j.contains("model_cfg") ? j["model_cfg"] : j;
    if (!mc.contains("vision_cfg") || !mc.contains("text_cfg") || !mc.contains("embed_dim"))
      fail("{}: model_cfg needs embed_dim, vision_cfg and text_cfg", file.string());
    const auto& v = mc["vision_cfg"];
    const auto& t = mc["text_cfg"];
    if (v.contains("timm_model_name") || (v.contains("layers") && !v["layers"].is_number_integer()))
      fail("{}: only ViT image towers are supported (this one is a ResNet or a timm model)",
           dir.string());
    const bool quick = mc.value("quick_gelu", false);
    vc.hidden_size = config_size(file, v, "width", 768);
    vc.layers = config_size(file, v, "layers", 12);
    const int head_width = config_size(file, v, "head_width", 64);
    if (vc.hidden_size % head_width != 0)
      fail("{}: vision width {} is not divisible by head_width {}", file.string(), vc.hidden_size,
           head_width);
    vc.heads = vc.hidden_size / head_width;
    vc.intermediate_size = static_cast<int>(vc.hidden_size * v.value("mlp_ratio", 4.0));
    vc.patch_size = config_size(file, v, "patch_size", 16);
    vc.image_size = config_size(file, v, "image_size", 224);
    vc.projection_dim = config_size(file, mc, "embed_dim", 512);
    vc.quick_gelu = quick;
    tc.vocab_size = config_size(file, t, "vocab_size", 49408);
    tc.hidden_size = config_size(file, t, "width", 512);
    tc.num_attention_heads = config_size(file, t, "heads", 8);
    tc.num_hidden_layers = config_size(file, t, "layers", 12);
    tc.intermediate_size = static_cast<int>(tc.hidden_size * t.value("mlp_ratio", 4.0));
    tc.max_position_embeddings = config_size(file, t, "context_length", 77);
    tc.hidden_act = quick ? "quick_gelu" : "gelu";
    tc.eos_token_id = 2;  // pool at the highest id (the end token), as open_clip's "argmax"
    tc.projection_dim = vc.projection_dim;
    for (const char* key : {"pool_type", "proj_type"})
      if (t.contains(key) && t[key] != "argmax" && t[key] != "linear")
        fail("{}: text_cfg {} = {} is not supported (argmax pooling, linear projection are)",
             dir.string(), key, t[key].dump());
    if (j.contains("preprocess_cfg")) {
      const auto& p = j["preprocess_cfg"];
      if (p.contains("mean")) m.mean = p["mean"].get<std::vector<float>>();
      if (p.contains("std")) m.std = p["std"].get<std::vector<float>>();
      if (p.value("resize_mode", "shortest") != "shortest")
        fail("{}: preprocess_cfg resize_mode '{}' is not supported (shortest is)", dir.string(),
             p.value("resize_mode", ""));
      if (p.value("interpolation", "bicubic") != "bicubic")
        fail("{}: preprocess_cfg interpolation '{}' is not supported (bicubic is)", dir.string(),
             p.value("interpolation", ""));
    }
    m.resize_to = m.crop_h = m.crop_w = vc.image_size;
    for (const char* f : {"open_clip_model.safetensors", "open_clip_pytorch_model.bin"})
      if (fs::exists(dir / f)) {
        weights = {dir / f};
        break;
      }
    if (weights.empty())
      fail(
          "OpenCLIP folder '{}' has neither open_clip_model.safetensors nor "
          "open_clip_pytorch_model.bin",
          dir.string());
    tensors = open_clip_to_transformers(read_state_dict(weights.front()));
  } else if (fs::exists(dir / "config.json")) {
    m.flavour = "transformers";
    const fs::path file = dir / "config.json";
    const auto j = read_json_file(file);
    if (!j.contains("vision_config") || !j.contains("text_config"))
      fail("{} is not a CLIPModel config (no vision_config/text_config)", file.string());
    const auto& v = j["vision_config"];
    vc.hidden_size = config_size(file, v, "hidden_size", 768);
    vc.intermediate_size = config_size(file, v, "intermediate_size", 3072);
    vc.layers = config_size(file, v, "num_hidden_layers", 12);
    vc.heads = config_size(file, v, "num_attention_heads", 12);
    vc.image_size = config_size(file, v, "image_size", 224);
    vc.patch_size = config_size(file, v, "patch_size", 32);
    vc.eps = v.value("layer_norm_eps", 1e-5);
    const std::string act = v.value("hidden_act", "quick_gelu");
    if (act != "quick_gelu" && act != "gelu")
      fail("{}: vision hidden_act '{}' is not supported (quick_gelu, gelu)", dir.string(), act);
    vc.quick_gelu = act == "quick_gelu";
    vc.projection_dim = config_size(file, j, "projection_dim", 512);
    tc = parse_clip_text_config(j["text_config"]);
    tc.projection_dim = vc.projection_dim;
    if (const fs::path pre = dir / "preprocessor_config.json"; fs::exists(pre)) {
      const auto p = read_json_file(pre);
      if (p.contains("size"))
        m.resize_to = p["size"].is_object() ? config_size(pre, p["size"], "shortest_edge", 224)
                                            : config_size(pre, p, "size", 224);
      if (p.contains("crop_size")) {
        if (p["crop_size"].is_object()) {
          m.crop_h = config_size(pre, p["crop_size"], "height", 224);
          m.crop_w = config_size(pre, p["crop_size"], "width", 224);
        } else {
          m.crop_h = m.crop_w = config_size(pre, p, "crop_size", 224);
        }
      }
      m.do_resize = p.value("do_resize", true);
      m.do_crop = p.value("do_center_crop", true);
      if (p.contains("image_mean")) m.mean = p["image_mean"].get<std::vector<float>>();
      if (p.contains("image_std")) m.std = p["image_std"].get<std::vector<float>>();
      const int resample = p.value("resample", 3);
      if (resample != 2 && resample != 3)
        fail("{}: resample {} is not supported (2 bilinear, 3 bicubic)", pre.string(), resample);
      m.bicubic = resample == 3;
    }
    weights = component_weights(dir, "model");
    if (weights.empty())
      fail(
          "CLIP folder '{}' has no model.safetensors nor pytorch_model.bin (a transformers "
          "CLIPModel saved with save_pretrained)",
          dir.string());
    tensors = map_tensors(weights);
  } else {
    fail(
        "'{}' is neither a transformers CLIPModel folder (config.json) nor an OpenCLIP folder "
        "(open_clip_config.json)",
        dir.string());
  }
  if (vc.image_size % vc.patch_size != 0 || vc.hidden_size % vc.heads != 0)
    fail("{}: image_size {} / patch_size {} / width {} / heads {} do not divide", dir.string(),
         vc.image_size, vc.patch_size, vc.hidden_size, vc.heads);
  if (tc.hidden_size % tc.num_attention_heads != 0)
    fail("{}: text width {} is not divisible by its {} heads", dir.string(), tc.hidden_size,
         tc.num_attention_heads);
  if (m.mean.size() != 3 || m.std.size() != 3)
    fail("{}: image mean and std must have 3 values", dir.string());
  {
    SkipInitGuard skip;  // load_weights below fills every parameter
    m.vision = std::make_unique<VisionTower>(vc);
    m.text = std::make_unique<ClipTextModel>(tc);
  }
  m.load_weights(tensors, "CLIP weights " + weights.front().string());
  m.vision->root->eval();
  m.tokenizer =
      std::make_unique<ClipTokenizer>(ClipTokenizer::load(find_tokenizer(dir, tokenizer_dir)));
  if (weights.size() == 1) {
    m.sha256 = sha256_file(weights.front());
  } else {  // a sharded checkpoint: one digest of its shards' digests, in name order
    std::string digests;
    for (const auto& f : weights) digests += sha256_file(f) + "\n";
    m.sha256 = sha256_hex(digests);
  }
  return s;
}

void ClipScorer::to(const std::string& device, const std::string& dtype) {
  move_module(*impl_->vision->root, device, dtype);
  move_module(impl_->text->module(), device, dtype);
  impl_->device = torch::Device(device);
  impl_->dtype = impl_->vision->projection->weight.scalar_type();
}

Tensor ClipScorer::preprocess(const Tensor& images) const {
  if (images.dim() != 4 || images.size(1) != 3 || images.scalar_type() != torch::kUInt8)
    fail("CLIP takes [B, 3, H, W] uint8 images, got {}", shape_string(images.sizes().vec()));
  const auto& m = *impl_;
  const int64_t B = images.size(0), H = images.size(2), W = images.size(3);
  // The shortest edge to resize_to, the other edge int(resize_to * long / short).
  int64_t nh = H, nw = W;
  if (m.do_resize) {
    if (W <= H)
      nw = m.resize_to, nh = static_cast<int64_t>(m.resize_to * static_cast<double>(H) / W);
    else
      nh = m.resize_to, nw = static_cast<int64_t>(m.resize_to * static_cast<double>(W) / H);
  }
  Tensor x;
  int64_t top, left;
  if (m.flavour == "open_clip") {
    const Tensor hwc = images.to(torch::kCPU).permute({0, 2, 3, 1}).contiguous();
    x = torch::empty({B, nh, nw, 3}, torch::kUInt8);
    for (int64_t b = 0; b < B; ++b) {
      const auto r = pil_resize_rgb8(hwc[b].data_ptr<uint8_t>(), W, H, nw, nh, PilFilter::kBicubic);
      std::memcpy(x[b].data_ptr<uint8_t>(), r.data(), r.size());
    }
    x = x.permute({0, 3, 1, 2}).to(torch::kFloat32) / 255;
    // torchvision's center_crop: offsets rounded half to even.
    top = static_cast<int64_t>(std::nearbyint((nh - m.crop_h) / 2.0));
    left = static_cast<int64_t>(std::nearbyint((nw - m.crop_w) / 2.0));
  } else {
    // torchvision's resize of uint8 images on the CPU: ATen's native 8-bit antialiased kernel
    // (fixed-point, like Pillow's), not a float resize rounded afterwards.
    x = images.to(torch::kCPU);
    if (nh != H || nw != W) {
      auto o = F::InterpolateFuncOptions()
                   .size(std::vector<int64_t>{nh, nw})
                   .align_corners(false)
                   .antialias(true);
      if (m.bicubic)
        o.mode(torch::kBicubic);
      else
        o.mode(torch::kBilinear);
      x = F::interpolate(x, o);
    }
    x = x.to(torch::kFloat32);
    top = static_cast<int64_t>((nh - m.crop_h) / 2.0);
    left = static_cast<int64_t>((nw - m.crop_w) / 2.0);
  }
  if (m.do_crop) {
    if (nh < m.crop_h || nw < m.crop_w)
      fail("a {}x{} image resized to {}x{} is smaller than CLIP's {}x{} crop", W, H, nw, nh,
           m.crop_w, m.crop_h);
    x = x.slice(2, top, top + m.crop_h).slice(3, left, left + m.crop_w);
  }
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  Tensor mean = torch::tensor(m.mean, opts).view({1, 3, 1, 1});
  Tensor std = torch::tensor(m.std, opts).view({1, 3, 1, 1});
  if (m.flavour != "open_clip") {  // transformers fuses the 1/255 rescale into mean and std
    mean = mean * (1.0 / (1.0 / 255.0));
    std = std * (1.0 / (1.0 / 255.0));
  }
  return ((x - mean) / std).contiguous();
}

Tensor ClipScorer::image_embeddings(const Tensor& images) const {
  torch::NoGradGuard no_grad;
  const auto& m = *impl_;
  const Tensor px = preprocess(images).to(m.device, m.dtype);
  if (px.size(2) != m.vision->config.image_size || px.size(3) != m.vision->config.image_size)
    fail("CLIP's vision tower takes {}x{} inputs; the preprocessing gave {}x{}",
         m.vision->config.image_size, m.vision->config.image_size, px.size(3), px.size(2));
  const Tensor e = m.vision->forward(px).to(torch::kFloat32).cpu();
  return e / e.norm(2, -1, true);
}

Tensor ClipScorer::text_embeddings(const std::vector<std::string>& captions) const {
  torch::NoGradGuard no_grad;
  const auto& m = *impl_;
  const int T = m.text->config().max_position_embeddings;
  std::vector<std::vector<int64_t>> rows;
  size_t longest = 0;
  for (const auto& c : captions) {
    std::vector<int64_t> ids{m.tokenizer->bos_id()};
    for (int id : m.tokenizer->encode(c)) ids.push_back(id);
    ids.push_back(m.tokenizer->eos_id());
    if (static_cast<int>(ids.size()) > T) {
      ids.resize(T);
      // open_clip keeps the end token; torchmetrics cuts the processor's ids at the positions.
      if (m.flavour == "open_clip") ids.back() = m.tokenizer->eos_id();
    }
    longest = std::max(longest, ids.size());
    rows.push_back(std::move(ids));
  }
  // Padding after the end token does not reach it (causal attention); open_clip pads with 0,
  // the transformers processor with its pad token, to the longest caption.
  const int64_t pad = m.flavour == "open_clip" ? 0 : m.tokenizer->pad_id();
  const size_t width = m.flavour == "open_clip" ? static_cast<size_t>(T) : longest;
  Tensor ids = torch::full({static_cast<int64_t>(rows.size()), static_cast<int64_t>(width)}, pad,
                           torch::kInt64);
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t i = 0; i < rows[r].size(); ++i) ids[r][i] = rows[r][i];
  Tensor pooled;
  m.text->encode(ids.to(m.device), 0, true, &pooled);
  pooled = pooled.to(torch::kFloat32).cpu();
  return pooled / pooled.norm(2, -1, true);
}

double clip_score(const Tensor& image_embeddings, const Tensor& text_embeddings) {
  if (image_embeddings.size(0) != text_embeddings.size(0) || image_embeddings.size(0) == 0)
    fail("CLIP score pairs images with captions: {} images, {} captions", image_embeddings.size(0),
         text_embeddings.size(0));
  const double mean =
      (100.0 * (image_embeddings.to(torch::kFloat64) * text_embeddings.to(torch::kFloat64)).sum(-1))
          .mean()
          .item<double>();
  return std::max(mean, 0.0);
}

}  // namespace asdm
