#include "sd/vae.h"

#include <map>
#include <regex>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/json_int.h"
#include "model/model_files.h"
#include "model/module_init.h"
#include "model/module_io.h"
#include "model/runtime.h"

namespace asdm {

namespace nn = torch::nn;
using torch::Tensor;

VaeConfig parse_vae_config(const nlohmann::json& j) {
  if (!j.is_object()) fail("a VAE config must be a JSON object");
  VaeConfig c;
  auto get_int = [&](const char* key, int& v) {
    if (!j.contains(key)) return;
    const auto i = json_int(j[key], 1);
    if (!i) fail("VAE config field '{}' must be a positive integer, got {}", key, j[key].dump());
    v = *i;
  };
  auto get_bool = [&](const char* key, bool& v) {
    if (!j.contains(key)) return;
    if (!j[key].is_boolean())
      fail("VAE config field '{}' must be true or false, got {}", key, j[key].dump());
    v = j[key].get<bool>();
  };
  get_int("in_channels", c.in_channels);
  get_int("out_channels", c.out_channels);
  get_int("layers_per_block", c.layers_per_block);
  get_int("latent_channels", c.latent_channels);
  get_int("norm_num_groups", c.norm_num_groups);
  get_int("sample_size", c.sample_size);
  get_bool("use_quant_conv", c.use_quant_conv);
  get_bool("use_post_quant_conv", c.use_post_quant_conv);
  get_bool("mid_block_add_attention", c.mid_block_add_attention);
  get_bool("force_upcast", c.force_upcast);
  if (j.contains("block_out_channels")) {
    const auto& b = j["block_out_channels"];
    if (!b.is_array() || b.empty())
      fail("VAE config field 'block_out_channels' must be a non-empty list");
    c.block_out_channels.clear();
    for (const auto& v : b) {
      const auto i = json_int(v, 1);
      if (!i)
        fail("VAE config field 'block_out_channels' must hold positive integers, got {}", b.dump());
      c.block_out_channels.push_back(*i);
    }
  }
  for (const auto& [key, want] : {std::pair{"down_block_types", "DownEncoderBlock2D"},
                                  {"up_block_types", "UpDecoderBlock2D"}}) {
    if (!j.contains(key)) continue;
    const auto& t = j[key];
    if (!t.is_array() || t.size() != c.block_out_channels.size())
      fail("VAE config field '{}' must list one block per entry of block_out_channels ({})", key,
           c.block_out_channels.size());
    for (const auto& v : t)
      if (v != want)
        fail("VAE config field '{}' has {}: asdm implements {} only", key, v.dump(), want);
  }
  if (j.contains("act_fn") && j["act_fn"] != "silu")
    fail("VAE config field 'act_fn' = {} is not supported (asdm implements silu)",
         j["act_fn"].dump());
  if (j.contains("scaling_factor")) {
    if (!j["scaling_factor"].is_number() || j["scaling_factor"].get<double>() <= 0)
      fail("VAE config field 'scaling_factor' must be a positive number, got {}",
           j["scaling_factor"].dump());
    c.scaling_factor = j["scaling_factor"].get<double>();
  }
  if (j.contains("shift_factor") && !j["shift_factor"].is_null()) {
    if (!j["shift_factor"].is_number())
      fail("VAE config field 'shift_factor' must be a number or null, got {}",
           j["shift_factor"].dump());
    c.shift_factor = j["shift_factor"].get<double>();
  }
  if ((j.contains("latents_mean") && !j["latents_mean"].is_null()) ||
      (j.contains("latents_std") && !j["latents_std"].is_null()))
    fail(
        "VAE config sets latents_mean/latents_std: per-channel latent statistics are not "
        "implemented");
  for (int ch : c.block_out_channels)
    if (ch % c.norm_num_groups != 0)
      fail("VAE block width {} is not divisible by norm_num_groups {}", ch, c.norm_num_groups);
  return c;
}

nlohmann::json to_json(const VaeConfig& c) {
  const size_t n = c.block_out_channels.size();
  nlohmann::json j = {{"_class_name", "AutoencoderKL"},
                      {"in_channels", c.in_channels},
                      {"out_channels", c.out_channels},
                      {"down_block_types", std::vector<std::string>(n, "DownEncoderBlock2D")},
                      {"up_block_types", std::vector<std::string>(n, "UpDecoderBlock2D")},
                      {"block_out_channels", c.block_out_channels},
                      {"layers_per_block", c.layers_per_block},
                      {"act_fn", "silu"},
                      {"latent_channels", c.latent_channels},
                      {"norm_num_groups", c.norm_num_groups},
                      {"sample_size", c.sample_size},
                      {"scaling_factor", c.scaling_factor},
                      {"use_quant_conv", c.use_quant_conv},
                      {"use_post_quant_conv", c.use_post_quant_conv},
                      {"mid_block_add_attention", c.mid_block_add_attention},
                      {"force_upcast", c.force_upcast}};
  j["shift_factor"] = c.shift_factor ? nlohmann::json(*c.shift_factor) : nlohmann::json(nullptr);
  return j;
}

namespace {

constexpr double kEps = 1e-6;  // the VAE's GroupNorm eps everywhere

nn::Conv2d conv(int in, int out, int k, int stride = 1, int pad = -1) {
  return make_conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad < 0 ? k / 2 : pad));
}
nn::GroupNorm norm(int groups, int ch) {
  return nn::GroupNorm(nn::GroupNormOptions(groups, ch).eps(kEps));
}

// ResnetBlock2D without a time embedding.
struct ResBlockImpl : nn::Module {
  nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};
  ResBlockImpl(int in, int out, int groups) {
    norm1 = register_module("norm1", norm(groups, in));
    conv1 = register_module("conv1", conv(in, out, 3));
    norm2 = register_module("norm2", norm(groups, out));
    conv2 = register_module("conv2", conv(out, out, 3));
    if (in != out) shortcut = register_module("conv_shortcut", conv(in, out, 1));
  }
  Tensor forward(const Tensor& x) {
    Tensor h = conv1->forward(torch::silu(norm1->forward(x)));
    h = conv2->forward(torch::silu(norm2->forward(h)));
    return (shortcut ? shortcut->forward(x) : x) + h;
  }
};

// The mid block's attention: GroupNorm, one head over all positions, residual.
struct AttentionImpl : nn::Module {
  nn::GroupNorm group_norm{nullptr};
  nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, out{nullptr};
  AttentionImpl(int ch, int groups) {
    group_norm = register_module("group_norm", norm(groups, ch));
    q = register_module("to_q", make_linear(nn::LinearOptions(ch, ch)));
    k = register_module("to_k", make_linear(nn::LinearOptions(ch, ch)));
    v = register_module("to_v", make_linear(nn::LinearOptions(ch, ch)));
    auto to_out = register_module("to_out", std::make_shared<nn::Module>());
    out = to_out->register_module("0", make_linear(nn::LinearOptions(ch, ch)));
  }
  Tensor forward(const Tensor& x) {
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    Tensor h = group_norm->forward(x).view({B, C, H * W}).transpose(1, 2);  // [B, HW, C]
    auto heads = [](const Tensor& t) { return t.unsqueeze(1); };            // one head
    Tensor a = at::scaled_dot_product_attention(heads(q->forward(h)), heads(k->forward(h)),
                                                heads(v->forward(h)));
    a = out->forward(a.squeeze(1));
    return x + a.transpose(1, 2).reshape({B, C, H, W});
  }
};

struct MidBlockImpl : nn::Module {
  std::shared_ptr<ResBlockImpl> res0, res1;
  std::shared_ptr<AttentionImpl> attn;
  MidBlockImpl(int ch, int groups, bool attention) {
    auto resnets = register_module("resnets", std::make_shared<nn::Module>());
    res0 = resnets->register_module("0", std::make_shared<ResBlockImpl>(ch, ch, groups));
    res1 = resnets->register_module("1", std::make_shared<ResBlockImpl>(ch, ch, groups));
    if (attention)
      attn = register_module("attentions", std::make_shared<nn::Module>())
                 ->register_module("0", std::make_shared<AttentionImpl>(ch, groups));
  }
  Tensor forward(Tensor x) {
    x = res0->forward(x);
    if (attn) x = attn->forward(x);
    return res1->forward(x);
  }
};

// DownEncoderBlock2D (resnets, then a stride-2 conv after right/bottom padding) or
// UpDecoderBlock2D (resnets, then nearest 2x and a conv).
struct StageImpl : nn::Module {
  std::vector<std::shared_ptr<ResBlockImpl>> resnets;
  nn::Conv2d resample{nullptr};
  bool up;
  StageImpl(int in, int out, int layers, int groups, bool resample_after, bool up) : up(up) {
    auto list = register_module("resnets", std::make_shared<nn::Module>());
    for (int i = 0; i < layers; ++i)
      resnets.push_back(list->register_module(
          std::to_string(i), std::make_shared<ResBlockImpl>(i == 0 ? in : out, out, groups)));
    if (resample_after)
      resample = register_module(up ? "upsamplers" : "downsamplers", std::make_shared<nn::Module>())
                     ->register_module("0", std::make_shared<nn::Module>())
                     ->register_module("conv", up ? conv(out, out, 3) : conv(out, out, 3, 2, 0));
  }
  Tensor forward(Tensor x) {
    for (auto& r : resnets) x = r->forward(x);
    if (!resample) return x;
    if (up) {
      // Nearest 2x in float32 for bfloat16 inputs, as diffusers does (upsample_nearest2d lacks bf16
      // kernels).
      const auto dtype = x.scalar_type();
      Tensor y = dtype == torch::kBFloat16 ? x.to(torch::kFloat32) : x;
      y = torch::nn::functional::interpolate(y, torch::nn::functional::InterpolateFuncOptions()
                                                    .scale_factor(std::vector<double>{2.0, 2.0})
                                                    .mode(torch::kNearest));
      return resample->forward(y.to(dtype));
    }
    return resample->forward(torch::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  }
};

struct CoderImpl : nn::Module {
  nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  std::vector<std::shared_ptr<StageImpl>> stages;
  std::shared_ptr<MidBlockImpl> mid;
  nn::GroupNorm norm_out{nullptr};
  bool decoder;
  CoderImpl(const VaeConfig& c, bool decoder) : decoder(decoder) {
    const auto& ch = c.block_out_channels;
    const int n = int(ch.size()), g = c.norm_num_groups;
    if (!decoder) {
      conv_in = register_module("conv_in", conv(c.in_channels, ch[0], 3));
      auto list = register_module("down_blocks", std::make_shared<nn::Module>());
      for (int i = 0; i < n; ++i)
        stages.push_back(list->register_module(
            std::to_string(i),
            std::make_shared<StageImpl>(i == 0 ? ch[0] : ch[i - 1], ch[i], c.layers_per_block, g,
                                        i + 1 < n, false)));
      mid = register_module(
          "mid_block", std::make_shared<MidBlockImpl>(ch[n - 1], g, c.mid_block_add_attention));
      norm_out = register_module("conv_norm_out", norm(g, ch[n - 1]));
      conv_out = register_module("conv_out", conv(ch[n - 1], 2 * c.latent_channels, 3));
    } else {
      conv_in = register_module("conv_in", conv(c.latent_channels, ch[n - 1], 3));
      mid = register_module(
          "mid_block", std::make_shared<MidBlockImpl>(ch[n - 1], g, c.mid_block_add_attention));
      auto list = register_module("up_blocks", std::make_shared<nn::Module>());
      for (int i = 0; i < n; ++i) {
        const int in = ch[n - 1 - (i == 0 ? 0 : i - 1)], out = ch[n - 1 - i];
        stages.push_back(list->register_module(
            std::to_string(i),
            std::make_shared<StageImpl>(in, out, c.layers_per_block + 1, g, i + 1 < n, true)));
      }
      norm_out = register_module("conv_norm_out", norm(g, ch[0]));
      conv_out = register_module("conv_out", conv(ch[0], c.out_channels, 3));
    }
  }
  Tensor forward(Tensor x) {
    x = conv_in->forward(x);
    if (decoder) x = mid->forward(x);
    for (auto& s : stages) x = s->forward(x);
    if (!decoder) x = mid->forward(x);
    return conv_out->forward(torch::silu(norm_out->forward(x)));
  }
};

}  // namespace

struct Vae::Impl {
  VaeConfig config;
  std::shared_ptr<nn::Module> root = std::make_shared<nn::Module>();
  std::shared_ptr<CoderImpl> encoder, decoder;
  nn::Conv2d quant{nullptr}, post_quant{nullptr};
  explicit Impl(const VaeConfig& c) : config(c) {
    encoder = root->register_module("encoder", std::make_shared<CoderImpl>(c, false));
    decoder = root->register_module("decoder", std::make_shared<CoderImpl>(c, true));
    const int z = c.latent_channels;
    if (c.use_quant_conv) quant = root->register_module("quant_conv", conv(2 * z, 2 * z, 1));
    if (c.use_post_quant_conv) post_quant = root->register_module("post_quant_conv", conv(z, z, 1));
  }
  Tensor input(const Tensor& x, int64_t channels, const char* what) const {
    if (x.dim() != 4 || x.size(1) != channels)
      fail("VAE {} must be [batch, {}, height, width], got {}", what, channels,
           shape_string(x.sizes().vec()));
    const auto& w = decoder->conv_in->weight;
    return x.to(w.device(), w.scalar_type());
  }
};

Vae::Vae(const VaeConfig& c) : impl_(std::make_unique<Impl>(c)) {}
Vae::~Vae() = default;
const VaeConfig& Vae::config() const { return impl_->config; }
torch::nn::Module& Vae::module() { return *impl_->root; }
const torch::nn::Module& Vae::module() const { return *impl_->root; }
int Vae::downscale() const { return 1 << (impl_->config.block_out_channels.size() - 1); }
void Vae::to(const std::string& device, const std::string& dtype) {
  move_module(*impl_->root, device, dtype);
}

Tensor Vae::decode(const Tensor& latents) const {
  const auto& c = impl_->config;
  Tensor z = impl_->input(latents, c.latent_channels, "latents") / c.scaling_factor;
  if (c.shift_factor) z = z + *c.shift_factor;
  if (impl_->post_quant) z = impl_->post_quant->forward(z);
  return impl_->decoder->forward(z);
}

Tensor Vae::encode(const Tensor& images, Tensor* logvar) const {
  const auto& c = impl_->config;
  const int64_t f = downscale();
  if (images.dim() == 4 && (images.size(2) % f || images.size(3) % f))
    fail("image size {}x{} is not divisible by the VAE's downscale factor {}", images.size(2),
         images.size(3), f);
  Tensor h = impl_->encoder->forward(impl_->input(images, c.in_channels, "images"));
  if (impl_->quant) h = impl_->quant->forward(h);
  auto parts = h.chunk(2, 1);
  if (logvar) *logvar = parts[1].clamp(-30.0, 20.0);
  Tensor mean = parts[0];
  if (c.shift_factor) mean = mean - *c.shift_factor;
  return mean * c.scaling_factor;
}

namespace {

// diffusers before 0.14 named the mid blocks' attention projections query, key, value and
// proj_attn; checkpoints saved then (SD 1.4's and 1.5's VAE on the Hub among them) still do, and
// diffusers renames them on load (ModelMixin._fix_state_dict_keys_on_load). So does asdm.
TensorMap rename_deprecated_attention(TensorMap tensors) {
  static const std::regex old_name(
      R"(^((?:encoder|decoder)\.mid_block\.attentions\.\d+)\.(query|key|value|proj_attn)\.(weight|bias)$)");
  static const std::map<std::string, std::string> now = {
      {"query", "to_q"}, {"key", "to_k"}, {"value", "to_v"}, {"proj_attn", "to_out.0"}};
  TensorMap out;
  for (auto& [name, t] : tensors) {
    std::smatch m;
    if (std::regex_match(name, m, old_name) &&
        !tensors.count(m[1].str() + "." + now.at(m[2].str()) + "." + m[3].str()))
      out[m[1].str() + "." + now.at(m[2].str()) + "." + m[3].str()] = t;
    else
      out[name] = t;
  }
  return out;
}

}  // namespace

std::unique_ptr<Vae> Vae::load(const std::filesystem::path& dir) {
  const auto config_path = dir / "config.json";
  if (!std::filesystem::exists(config_path))
    fail("VAE folder '{}' has no config.json", dir.string());
  VaeConfig c;
  try {
    c = parse_vae_config(read_json_file(config_path));
  } catch (const Error& e) {
    fail("'{}': {}", config_path.string(), e.what());
  }
  const auto weights = component_weights(dir, "diffusion_pytorch_model");
  if (weights.empty())
    fail("VAE folder '{}' has no diffusion_pytorch_model.safetensors (nor .bin)", dir.string());
  std::unique_ptr<Vae> vae;
  {
    SkipInitGuard skip;  // the strict load below fills every parameter
    vae = std::make_unique<Vae>(c);
  }
  adopt_module_tensors(*vae->impl_->root, rename_deprecated_attention(map_tensors(weights)),
                       "VAE weights " + weights.front().string());
  return vae;
}

void Vae::save(const std::filesystem::path& dir) const {
  std::filesystem::create_directories(dir);
  write_json_atomic(dir / "config.json", to_json(impl_->config));
  write_tensors(dir / "diffusion_pytorch_model.safetensors", module_tensors(*impl_->root));
}

}  // namespace asdm
