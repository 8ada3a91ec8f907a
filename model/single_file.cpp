#include "model/single_file.h"

#include <algorithm>
#include <map>
#include <numeric>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"

namespace asdm {

const char* to_string(SingleFileFamily f) {
  switch (f) {
    case SingleFileFamily::kSd1:
      return "SD 1.x";
    case SingleFileFamily::kSd2:
      return "SD 2.x";
    default:
      return "SDXL";
  }
}

namespace {

bool any_prefix(const std::vector<std::string>& keys, const std::string& prefix) {
  return std::any_of(keys.begin(), keys.end(),
                     [&](const std::string& k) { return k.rfind(prefix, 0) == 0; });
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t dot; (dot = s.find('.', start)) != std::string::npos; start = dot + 1)
    out.push_back(s.substr(start, dot - start));
  out.push_back(s.substr(start));
  return out;
}

std::string join(const std::vector<std::string>& parts, size_t from,
                 size_t to = std::string::npos) {
  std::string out;
  for (size_t i = from; i < std::min(to, parts.size()); ++i)
    out += (out.empty() ? "" : ".") + parts[i];
  return out;
}

const std::map<std::string, std::string>& resnet_names() {
  static const std::map<std::string, std::string> m = {
      {"norm1", "in_layers.0"},  {"conv1", "in_layers.2"},  {"time_emb_proj", "emb_layers.1"},
      {"norm2", "out_layers.0"}, {"conv2", "out_layers.3"}, {"conv_shortcut", "skip_connection"}};
  return m;
}

[[noreturn]] void outside(const std::string& component, const std::string& key) {
  fail("{} tensor '{}' has no place in an original single-file checkpoint", component, key);
}

std::string unet_key(const std::string& key, const UNetConfig& c) {
  static const std::map<std::string, std::string> fixed = {
      {"conv_in", "input_blocks.0.0"},
      {"time_embedding.linear_1", "time_embed.0"},
      {"time_embedding.linear_2", "time_embed.2"},
      {"add_embedding.linear_1", "label_emb.0.0"},
      {"add_embedding.linear_2", "label_emb.0.2"},
      {"class_embedding.linear_1", "label_emb.0.0"},
      {"class_embedding.linear_2", "label_emb.0.2"},
      {"conv_norm_out", "out.0"},
      {"conv_out", "out.2"}};
  const auto p = split(key);
  const std::string module = key.substr(0, key.rfind('.'));
  if (auto it = fixed.find(module); it != fixed.end()) return it->second + "." + p.back();
  auto resnet = [&](size_t at) {  // the resnet's inner name at p[at]
    auto it = resnet_names().find(p.at(at));
    if (it == resnet_names().end()) outside("unet", key);
    return it->second + "." + join(p, at + 1);
  };
  const auto& L = c.layers_per_block;
  const int n = int(c.block_out_channels.size());
  if (p[0] == "down_blocks" && p.size() > 4) {
    const int b = std::stoi(p[1]);
    const int first =
        1 + std::accumulate(L.begin(), L.begin() + b, 0, [](int a, int l) { return a + l + 1; });
    if (p[2] == "downsamplers")
      return fmt::format("input_blocks.{}.0.op.{}", first + L[b], join(p, 5));
    const int idx = first + std::stoi(p[3]);
    if (p[2] == "resnets") return fmt::format("input_blocks.{}.0.{}", idx, resnet(4));
    if (p[2] == "attentions") return fmt::format("input_blocks.{}.1.{}", idx, join(p, 4));
  } else if (p[0] == "mid_block" && p.size() > 3) {
    const bool attn = !c.mid_block_type.empty() && c.mid_block_type != "UNetMidBlock2D";
    if (p[1] == "resnets")
      return fmt::format("middle_block.{}.{}", p[2] == "0" ? 0 : (attn ? 2 : 1), resnet(3));
    if (p[1] == "attentions") return "middle_block.1." + join(p, 3);
  } else if (p[0] == "up_blocks" && p.size() > 4) {
    const int b = std::stoi(p[1]);
    // Up stage b mirrors down stage n - 1 - b and has one layer more.
    int first = 0;
    for (int i = 0; i < b; ++i) first += L[n - 1 - i] + 1;
    const bool attn = c.up_block_types.at(b).find("CrossAttn") != std::string::npos;
    if (p[2] == "upsamplers")
      return fmt::format("output_blocks.{}.{}.conv.{}", first + L[n - 1 - b], attn ? 2 : 1,
                         join(p, 5));
    const int idx = first + std::stoi(p[3]);
    if (p[2] == "resnets") return fmt::format("output_blocks.{}.0.{}", idx, resnet(4));
    if (p[2] == "attentions") return fmt::format("output_blocks.{}.1.{}", idx, join(p, 4));
  }
  outside("unet", key);
}

LdmSource vae_source(const std::string& key, int stages) {
  auto p = split(key);
  LdmSource s;
  if (p.size() < 3 || (p[0] != "encoder" && p[0] != "decoder")) {
    if (p[0] == "quant_conv" || p[0] == "post_quant_conv") return {key};
    outside("vae", key);
  }
  const std::string coder = p[0];
  auto resnet_rest = [&](size_t at) {
    std::string r = join(p, at);
    if (r.rfind("conv_shortcut", 0) == 0) r = "nin_shortcut" + r.substr(13);
    return r;
  };
  if (p[1] == "conv_norm_out") return {coder + ".norm_out." + p.back()};
  if (p[1] == "conv_in" || p[1] == "conv_out") return {key};
  if ((p[1] == "down_blocks" || p[1] == "up_blocks") && p.size() > 5) {
    const bool down = p[1] == "down_blocks";
    const int i = down ? std::stoi(p[2]) : stages - 1 - std::stoi(p[2]);
    const std::string stage = fmt::format("{}.{}.{}", coder, down ? "down" : "up", i);
    if (p[3] == "resnets") return {fmt::format("{}.block.{}.{}", stage, p[4], resnet_rest(5))};
    if (p[3] == "downsamplers" || p[3] == "upsamplers")
      return {fmt::format("{}.{}.conv.{}", stage, down ? "downsample" : "upsample", p.back())};
  }
  if (p[1] == "mid_block" && p.size() > 4) {
    if (p[2] == "resnets")
      return {fmt::format("{}.mid.block_{}.{}", coder, std::stoi(p[3]) + 1, resnet_rest(4))};
    static const std::map<std::string, std::string> attn = {{"group_norm", "norm"},
                                                            {"to_q", "q"},
                                                            {"to_k", "k"},
                                                            {"to_v", "v"},
                                                            {"to_out.0", "proj_out"}};
    if (auto it = attn.find(join(p, 4, p.size() - 1)); p[2] == "attentions" && it != attn.end()) {
      s.key = fmt::format("{}.mid.attn_1.{}.{}", coder, it->second, p.back());
      s.conv_1x1 = it->first != "group_norm" && p.back() == "weight";
      return s;
    }
  }
  outside("vae", key);
}

// transformers' CLIPTextModel(WithProjection) keys -> OpenCLIP's.
LdmSource open_clip_source(const std::string& key, const std::string& prefix) {
  static const std::map<std::string, std::string> top = {
      {"text_model.embeddings.token_embedding.weight", "token_embedding.weight"},
      {"text_model.embeddings.position_embedding.weight", "positional_embedding"},
      {"text_model.final_layer_norm.weight", "ln_final.weight"},
      {"text_model.final_layer_norm.bias", "ln_final.bias"}};
  if (auto it = top.find(key); it != top.end()) return {prefix + it->second};
  if (key == "text_projection.weight") return {prefix + "text_projection", -1, true};
  const auto p = split(key);  // text_model.encoder.layers.I.<module>.<param>
  if (p.size() < 6 || p[1] != "encoder" || p[2] != "layers") outside("text encoder", key);
  const std::string block = prefix + "transformer.resblocks." + p[3] + ".";
  const std::string module = join(p, 4, p.size() - 1), param = p.back();
  static const std::map<std::string, std::string> names = {{"layer_norm1", "ln_1"},
                                                           {"layer_norm2", "ln_2"},
                                                           {"mlp.fc1", "mlp.c_fc"},
                                                           {"mlp.fc2", "mlp.c_proj"},
                                                           {"self_attn.out_proj", "attn.out_proj"}};
  if (auto it = names.find(module); it != names.end()) return {block + it->second + "." + param};
  static const std::map<std::string, int> qkv = {
      {"self_attn.q_proj", 0}, {"self_attn.k_proj", 1}, {"self_attn.v_proj", 2}};
  if (auto it = qkv.find(module); it != qkv.end())
    return {block + "attn.in_proj_" + param, it->second};
  outside("text encoder", key);
}

}  // namespace

SingleFileFamily detect_single_file_family(const std::vector<std::string>& keys) {
  const bool unet = any_prefix(keys, "model.diffusion_model.input_blocks.");
  if (unet && any_prefix(keys, "conditioner.embedders.1.model.")) return SingleFileFamily::kSdxl;
  if (unet && any_prefix(keys, "cond_stage_model.model.")) return SingleFileFamily::kSd2;
  if (unet && any_prefix(keys, "cond_stage_model.transformer.")) return SingleFileFamily::kSd1;
  fail(
      "not a single-file checkpoint of a known family: asdm reads SD 1.x (model.diffusion_model.* "
      "with "
      "cond_stage_model.transformer.*), SD 2.x (cond_stage_model.model.*) and SDXL base "
      "(conditioner.embedders.0/1.*) checkpoints{}",
      unet           ? "; this one has an LDM UNet but no text encoder it recognises"
      : keys.empty() ? "; this file holds no tensors"
                     : "; this one has no model.diffusion_model.input_blocks.*");
}

namespace {

// The shapes of one LDM UNet, by its own names (without "model.diffusion_model.").
struct LdmUnetShapes {
  const std::function<std::optional<std::vector<int64_t>>(const std::string&)>& shape_of;
  std::optional<std::vector<int64_t>> operator()(const std::string& key) const {
    return shape_of("model.diffusion_model." + key);
  }
  bool has(const std::string& key) const { return (*this)(key).has_value(); }
  std::vector<int64_t> need(const std::string& key, size_t dims) const {
    auto s = (*this)(key);
    if (!s || s->size() != dims)
      fail("its UNet tensor model.diffusion_model.{} is {} (a {}-d tensor expected)", key,
           s ? fmt::format("{}-d", s->size()) : std::string("missing"), dims);
    return *s;
  }
};

// One block of attention: its transformer depth (0: none), width, projection kind, cross width.
struct LdmAttention {
  int depth = 0;
  int64_t cross = 0;
  bool linear = false, only_cross = false;
};

LdmAttention ldm_attention(const LdmUnetShapes& u, const std::string& block, int64_t channels) {
  LdmAttention a;
  const auto proj = u(block + ".proj_in.weight");
  if (!proj) return a;
  a.linear = proj->size() == 2;
  while (u.has(fmt::format("{}.transformer_blocks.{}.attn1.to_q.weight", block, a.depth)))
    ++a.depth;
  if (a.depth == 0) fail("its UNet block {} has proj_in but no transformer_blocks", block);
  a.cross = u.need(block + ".transformer_blocks.0.attn2.to_k.weight", 2)[1];
  a.only_cross = u.need(block + ".transformer_blocks.0.attn1.to_k.weight", 2)[1] != channels;
  return a;
}

}  // namespace

SingleFileUnet infer_single_file_unet(
    const std::vector<std::string>& keys,
    const std::function<std::optional<std::vector<int64_t>>(const std::string&)>& shape_of,
    const std::map<std::string, std::string>& metadata) {
  if (!any_prefix(keys, "model.diffusion_model.input_blocks."))
    fail(
        "not a single-file Stable Diffusion checkpoint: it has no model.diffusion_model.* UNet "
        "(asdm reads SD 1.x, 2.x and SDXL files, whole or the UNet alone){}",
        keys.empty() ? "; this file holds no tensors" : "");
  const LdmUnetShapes u{shape_of};
  SingleFileUnet r;
  const auto conv_in = u.need("input_blocks.0.0.weight", 4);
  const auto proj = [&] {  // the first attention's proj_in decides the family of a UNet alone
    for (const auto& k : keys)
      if (k.rfind("model.diffusion_model.", 0) == 0 && k.size() > 15 &&
          k.compare(k.size() - 15, 15, ".proj_in.weight") == 0)
        return shape_of(k);
    return std::optional<std::vector<int64_t>>();
  }();
  const bool added = u.has("label_emb.0.0.weight");
  const bool text_encoders =
      any_prefix(keys, "cond_stage_model.") || any_prefix(keys, "conditioner.embedders.");
  if (text_encoders)
    r.family = detect_single_file_family(keys);
  else
    r.family = proj && proj->size() == 2
                   ? (added ? SingleFileFamily::kSdxl : SingleFileFamily::kSd2)
                   : SingleFileFamily::kSd1;

  if (auto it = metadata.find(kSingleFileConfigKey); it != metadata.end()) {
    nlohmann::json j = nlohmann::json::parse(it->second, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      fail("its metadata '{}' is not a JSON object", kSingleFileConfigKey);
    try {
      r.config = parse_unet_config(j);
    } catch (const Error& e) {
      fail("its metadata '{}': {}", kSingleFileConfigKey, e.what());
    }
    r.config_from_metadata = true;
    return r;
  }

  nlohmann::json j;
  j["in_channels"] = conv_in[1];
  j["conv_in_kernel"] = conv_in[2];
  const auto conv_out = u.need("out.2.weight", 4);
  j["out_channels"] = conv_out[0];
  j["conv_out_kernel"] = conv_out[2];
  const auto time = u.need("time_embed.0.weight", 2);
  if (time[0] != 4 * conv_in[0]) j["time_embedding_dim"] = time[0];

  // Down stages: resnets (with attention) until a downsampler ("op") ends the stage.
  std::vector<int64_t> channels;
  std::vector<int> layers;
  std::vector<LdmAttention> down;
  int64_t cross = 0;
  bool linear = false;
  for (int i = 1, n = 0;; ++i) {
    const std::string block = fmt::format("input_blocks.{}", i);
    if (u.has(block + ".0.op.weight")) {
      if (n == 0) fail("its UNet's {} downsamples a stage with no layers", block);
      layers.push_back(n);
      n = 0;
      continue;
    }
    const auto conv1 = u(block + ".0.in_layers.2.weight");
    if (!conv1) {
      if (n == 0) fail("its UNet ends with a downsampler ({})", block);
      layers.push_back(n);
      break;
    }
    const int64_t c = (*conv1)[0];
    const LdmAttention a = ldm_attention(u, block + ".1", c);
    if (n == 0) {
      channels.push_back(c);
      down.push_back(a);
    } else if (c != channels.back() || (a.depth > 0) != (down.back().depth > 0)) {
      fail("its UNet's {} differs from the layers before it in its stage", block);
    }
    if (a.depth > 0) {
      if (cross != 0 && a.cross != cross)
        fail("its UNet's cross-attention widths differ ({} and {})", cross, a.cross);
      cross = a.cross;
      linear = a.linear;
    }
    ++n;
  }
  const int stages = static_cast<int>(channels.size());
  j["block_out_channels"] = channels;
  bool uniform = std::all_of(layers.begin(), layers.end(), [&](int l) { return l == layers[0]; });
  j["layers_per_block"] = uniform ? nlohmann::json(layers[0]) : nlohmann::json(layers);
  std::vector<std::string> down_types, up_types;
  std::vector<int> depth(stages, 1);
  std::vector<bool> only_cross(stages, false);
  for (int s = 0; s < stages; ++s) {
    down_types.push_back(down[s].depth ? "CrossAttnDownBlock2D" : "DownBlock2D");
    if (down[s].depth) depth[s] = down[s].depth;
    only_cross[s] = down[s].only_cross;
  }

  // The mid block: resnet, attention, resnet; or two resnets; or none.
  const LdmAttention mid = ldm_attention(u, "middle_block.1", channels.back());
  if (mid.depth > 0) {
    j["mid_block_type"] = "UNetMidBlock2DCrossAttn";
    if (down.back().depth > 0 && down.back().depth != mid.depth)
      fail("its UNet's mid block has {} transformer layers and its last stage {}", mid.depth,
           down.back().depth);
    depth[stages - 1] = mid.depth;  // diffusers' mid block takes the last stage's depth
    if (cross == 0) cross = mid.cross, linear = mid.linear;
  } else {
    j["mid_block_type"] = u.has("middle_block.0.in_layers.2.weight")
                              ? nlohmann::json("UNetMidBlock2D")
                              : nlohmann::json(nullptr);
  }

  // Up stages: stage b mirrors down stage n-1-b with one layer more.
  std::vector<int> up_depth;
  bool reverse = false;
  for (int b = 0, k = 0; b < stages; ++b) {
    const int count = layers[stages - 1 - b] + 1;
    int d = -1;
    for (int l = 0; l < count; ++l, ++k) {
      const std::string block = fmt::format("output_blocks.{}", k);
      const auto conv1 = u(block + ".0.in_layers.2.weight");
      if (!conv1) fail("its UNet has no {} (up stage {} needs {} layers)", block, b, count);
      const LdmAttention a = ldm_attention(u, block + ".1", (*conv1)[0]);
      if (d >= 0 && a.depth != d)
        fail("its UNet's up stage {} mixes layers with and without attention", b);
      d = a.depth;
    }
    up_types.push_back(d ? "CrossAttnUpBlock2D" : "UpBlock2D");
    up_depth.push_back(d ? d : 1);
    if (d && d != depth[stages - 1 - b]) reverse = true;
  }
  j["down_block_types"] = down_types;
  j["up_block_types"] = up_types;
  j["transformer_layers_per_block"] = depth;
  if (reverse) j["reverse_transformer_layers_per_block"] = up_depth;
  j["only_cross_attention"] = only_cross;
  if (cross > 0) j["cross_attention_dim"] = cross;
  j["use_linear_projection"] = linear;

  // What the shapes do not say: the family's.
  std::vector<int> heads;
  for (const int64_t c : channels) {
    if (c % 32 != 0)
      fail(
          "its UNet has {} channels, which the 32 norm groups of an {} UNet do not divide: give "
          "its config instead (a pipeline folder: `asdm convert --model FILE --config FOLDER`)",
          c, to_string(r.family));
    if (r.family == SingleFileFamily::kSd1) {
      heads.push_back(8);
    } else if (c % 64 == 0) {
      heads.push_back(static_cast<int>(c / 64));
    } else {
      fail(
          "its UNet has {} channels, not a multiple of the 64-channel heads of {}: give its "
          "config instead (a pipeline folder: `asdm convert --model FILE --config FOLDER`)",
          c, to_string(r.family));
    }
  }
  j["attention_head_dim"] = heads;
  j["norm_num_groups"] = 32;
  j["sample_size"] = r.family == SingleFileFamily::kSd1   ? 64
                     : r.family == SingleFileFamily::kSd2 ? 96
                                                          : 128;
  j["upcast_attention"] = r.family == SingleFileFamily::kSd2;
  if (added) {
    const auto emb = u.need("label_emb.0.0.weight", 2);
    if (r.family == SingleFileFamily::kSdxl) {
      j["addition_embed_type"] = "text_time";
      j["addition_time_embed_dim"] = 256;
    } else {
      j["class_embed_type"] = "projection";
    }
    j["projection_class_embeddings_input_dim"] = emb[1];
  }
  try {
    r.config = parse_unet_config(j);
  } catch (const Error& e) {
    fail("its UNet has no diffusers config asdm builds: {}", e.what());
  }
  return r;
}

std::string ldm_ema_key(const std::string& key) {
  std::string flat;
  const auto dot = key.find('.');
  for (const char c : key.substr(dot == std::string::npos ? key.size() : dot + 1))
    if (c != '.') flat.push_back(c);
  return "model_ema." + flat;
}

namespace {
bool& ema_setting() {
  static bool ema = false;
  return ema;
}
}  // namespace

void set_single_file_ema(bool ema) { ema_setting() = ema; }
bool single_file_ema() { return ema_setting(); }

bool use_single_file_ema(const std::string& file, const std::vector<std::string>& keys) {
  const bool ema = single_file_ema();
  const auto copies = std::count_if(
      keys.begin(), keys.end(), [](const std::string& k) { return k.rfind("model_ema.", 0) == 0; });
  if (ema && copies <= 100)
    fail("'{}' holds no EMA copy of its UNet (model_ema.* tensors) for --ema", file);
  if (!ema && copies > 100)
    log::info(
        "'{}' also holds an EMA copy of its UNet (usually better for inference): reading the "
        "non-EMA weights; `asdm --ema ...` reads the EMA ones",
        file);
  return ema;
}

LdmSource ldm_source(const std::string& component, const std::string& key,
                     const SingleFileLayout& layout) {
  const auto family = layout.family;
  if (component == "unet") return {"model.diffusion_model." + unet_key(key, layout.unet)};
  if (component == "vae") {
    LdmSource s = vae_source(key, layout.vae_stages);
    s.key = "first_stage_model." + s.key;
    return s;
  }
  if (component == "text_encoder") {
    if (family == SingleFileFamily::kSd1) return {"cond_stage_model.transformer." + key};
    if (family == SingleFileFamily::kSdxl) return {"conditioner.embedders.0.transformer." + key};
    return open_clip_source(key, "cond_stage_model.model.");
  }
  if (component == "text_encoder_2" && family == SingleFileFamily::kSdxl)
    return open_clip_source(key, "conditioner.embedders.1.model.");
  fail("a {} single-file checkpoint has no component '{}'", to_string(family), component);
}

}  // namespace asdm
