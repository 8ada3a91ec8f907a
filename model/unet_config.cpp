#include "model/unet_config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/json_int.h"
#include "core/log.h"

namespace asdm {
namespace {

using nlohmann::json;

const std::set<std::string> kDownTypes = {"CrossAttnDownBlock2D", "DownBlock2D"};
const std::set<std::string> kUpTypes = {"CrossAttnUpBlock2D", "UpBlock2D"};
const std::set<std::string> kMidTypes = {"UNetMidBlock2DCrossAttn", "UNetMidBlock2D"};

// Fields that change the network and that we read.
const std::set<std::string> kReadFields = {"in_channels",
                                           "out_channels",
                                           "sample_size",
                                           "center_input_sample",
                                           "down_block_types",
                                           "up_block_types",
                                           "mid_block_type",
                                           "block_out_channels",
                                           "layers_per_block",
                                           "attention_head_dim",
                                           "num_attention_heads",
                                           "cross_attention_dim",
                                           "transformer_layers_per_block",
                                           "reverse_transformer_layers_per_block",
                                           "only_cross_attention",
                                           "use_linear_projection",
                                           "upcast_attention",
                                           "norm_num_groups",
                                           "norm_eps",
                                           "act_fn",
                                           "flip_sin_to_cos",
                                           "freq_shift",
                                           "downsample_padding",
                                           "mid_block_scale_factor",
                                           "resnet_time_scale_shift",
                                           "addition_embed_type",
                                           "addition_time_embed_dim",
                                           "projection_class_embeddings_input_dim",
                                           "time_cond_proj_dim",
                                           "class_embed_type",
                                           "conv_in_kernel",
                                           "conv_out_kernel",
                                           "time_embedding_dim"};

// Fields that do not change the inference network (dropout is off at inference;
// addition_embed_type_num_heads is read only by addition_embed_type "text"; the mid-block
// only-cross-attention flag is read only by the SimpleCrossAttn mid block we reject).
const std::set<std::string> kInertFields = {"dropout", "addition_embed_type_num_heads",
                                            "mid_block_only_cross_attention"};

std::string show(const json& v) { return v.dump(); }

// Sizes a config may give. Far above any released UNet (SD 1.5 and SDXL: 1280 channels, 2 ResNets
// and up to 10 transformer layers a block, sample size 128), they refuse a damaged or hostile
// config before it builds a layout of 10^8 layers (minutes of `asdm inspect`).
constexpr int kMaxWidth = 16384;  // channels, attention heads, embedding dims
constexpr int kMaxLayers = 1024;  // ResNets or transformer layers in one block
constexpr int kMaxSampleSize = 8192;

// `v` as an int: an integer, or a float with an integral value, that an int holds.
int as_int(const json& v, const char* field) {
  if (v.is_number_integer()) {
    if (const auto i = json_int(v)) return *i;
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d != std::floor(d)) fail("config field '{}' must be an integer, got {}", field, show(v));
    if (d >= std::numeric_limits<int>::min() && d <= std::numeric_limits<int>::max())
      return static_cast<int>(d);
  } else {
    fail("config field '{}' must be an integer, got {}", field, show(v));
  }
  fail("config field '{}' = {} is out of range", field, show(v));
}

// An int field within [low, high].
int get_int(const json& j, const char* field, int def, int low = std::numeric_limits<int>::min(),
            int high = std::numeric_limits<int>::max()) {
  if (!j.contains(field) || j[field].is_null()) return def;
  const int v = as_int(j[field], field);
  if (v < low) fail("config field '{}' = {} must be at least {}", field, v, low);
  if (v > high) fail("config field '{}' = {} must be at most {}", field, v, high);
  return v;
}

double get_double(const json& j, const char* field, double def) {
  if (!j.contains(field) || j[field].is_null()) return def;
  if (!j[field].is_number())
    fail("config field '{}' must be a number, got {}", field, show(j[field]));
  return j[field].get<double>();
}

bool get_bool(const json& j, const char* field, bool def) {
  if (!j.contains(field) || j[field].is_null()) return def;
  if (!j[field].is_boolean())
    fail("config field '{}' must be true or false, got {}", field, show(j[field]));
  return j[field].get<bool>();
}

std::string get_string(const json& j, const char* field, const std::string& def) {
  if (!j.contains(field)) return def;
  if (j[field].is_null()) return "";
  if (!j[field].is_string())
    fail("config field '{}' must be a string, got {}", field, show(j[field]));
  return j[field].get<std::string>();
}

std::vector<std::string> get_strings(const json& j, const char* field) {
  if (!j.contains(field) || !j[field].is_array())
    fail("config field '{}' must be a list of block type names", field);
  std::vector<std::string> out;
  for (const auto& v : j[field]) {
    if (!v.is_string()) fail("config field '{}' must hold strings, got {}", field, show(v));
    out.push_back(v.get<std::string>());
  }
  return out;
}

// An int or a list of ints with one entry per stage.
std::vector<int> per_stage_ints(const json& j, const char* field, int stages, int def,
                                int min_value, int max_value) {
  std::vector<int> out;
  if (!j.contains(field) || j[field].is_null()) {
    out.assign(stages, def);
  } else if (j[field].is_array()) {
    for (const auto& v : j[field]) {
      if (!v.is_number_integer())
        fail("config field '{}' must hold integers, got {}", field, show(v));
      out.push_back(as_int(v, field));
    }
    if (static_cast<int>(out.size()) != stages)
      fail("config field '{}' has {} entries but the UNet has {} stages", field, out.size(),
           stages);
  } else {
    out.assign(stages, get_int(j, field, def));
  }
  for (int v : out) {
    if (v < min_value)
      fail("config field '{}' has value {}; it must be at least {}", field, v, min_value);
    if (v > max_value)
      fail("config field '{}' has value {}; it must be at most {}", field, v, max_value);
  }
  return out;
}

void require_value(const json& j, const char* field, const json& allowed_null_or_value,
                   const char* what_we_support) {
  if (!j.contains(field) || j[field].is_null()) return;
  if (j[field] == allowed_null_or_value) return;
  fail("config field '{}' = {} is not supported (asdm implements {})", field, show(j[field]),
       what_we_support);
}

void require_null(const json& j, const char* field) {
  if (j.contains(field) && !j[field].is_null())
    fail("config field '{}' = {} is not supported (asdm implements only null)", field,
         show(j[field]));
}

}  // namespace

bool is_cross_attn_block(const std::string& t) {
  return t == "CrossAttnDownBlock2D" || t == "CrossAttnUpBlock2D" || t == "UNetMidBlock2DCrossAttn";
}

int UNetConfig::time_embed_dim() const {
  return time_embedding_dim > 0 ? time_embedding_dim : 4 * block_out_channels.at(0);
}

int UNetConfig::up_transformer_layers(int up_index) const {
  if (!reverse_transformer_layers_per_block.empty())
    return reverse_transformer_layers_per_block.at(up_index);
  return transformer_layers_per_block.at(num_stages() - 1 - up_index);
}

UNetConfig parse_unet_config(const json& j) {
  if (!j.is_object()) fail("a UNet config must be a JSON object, got {}", j.type_name());
  const std::string cls = get_string(j, "_class_name", "UNet2DConditionModel");
  if (cls != "UNet2DConditionModel")
    fail(
        "config field '_class_name' = \"{}\" is not supported (asdm implements "
        "UNet2DConditionModel)",
        cls);

  // Values whose other settings we do not implement.
  require_null(j, "num_class_embeds");
  require_null(j, "encoder_hid_dim");
  require_null(j, "encoder_hid_dim_type");
  require_null(j, "time_embedding_act_fn");
  require_null(j, "timestep_post_act");
  require_null(j, "cross_attention_norm");
  require_value(j, "time_embedding_type", "positional", "\"positional\"");
  require_value(j, "attention_type", "default", "\"default\"");
  require_value(j, "dual_cross_attention", false, "false");
  require_value(j, "class_embeddings_concat", false, "false");
  require_value(j, "resnet_skip_time_act", false, "false");
  if (j.contains("resnet_out_scale_factor") && !j["resnet_out_scale_factor"].is_null() &&
      get_double(j, "resnet_out_scale_factor", 1.0) != 1.0)
    fail("config field 'resnet_out_scale_factor' = {} is not supported (asdm implements 1.0)",
         show(j["resnet_out_scale_factor"]));

  for (const auto& [key, value] : j.items()) {
    if (key.empty() || key[0] == '_') continue;
    if (kReadFields.count(key) || kInertFields.count(key)) continue;
    static const std::set<std::string> kChecked = {
        "class_embed_type",       "num_class_embeds",        "encoder_hid_dim",
        "encoder_hid_dim_type",   "time_embedding_act_fn",   "timestep_post_act",
        "cross_attention_norm",   "time_embedding_type",     "attention_type",
        "dual_cross_attention",   "class_embeddings_concat", "resnet_skip_time_act",
        "resnet_out_scale_factor"};
    if (kChecked.count(key)) continue;
    log::warn("config field '{}' is unknown to asdm and ignored", key);
  }

  UNetConfig c;
  c.in_channels = get_int(j, "in_channels", 4, 1, kMaxWidth);
  c.out_channels = get_int(j, "out_channels", 4, 1, kMaxWidth);
  c.sample_size = get_int(j, "sample_size", 64, 1, kMaxSampleSize);
  c.center_input_sample = get_bool(j, "center_input_sample", false);

  c.down_block_types = get_strings(j, "down_block_types");
  c.up_block_types = get_strings(j, "up_block_types");
  for (const auto& t : c.down_block_types)
    if (!kDownTypes.count(t))
      fail(
          "config field 'down_block_types' has unknown block type \"{}\" (known: "
          "CrossAttnDownBlock2D, DownBlock2D)",
          t);
  for (const auto& t : c.up_block_types)
    if (!kUpTypes.count(t))
      fail(
          "config field 'up_block_types' has unknown block type \"{}\" (known: CrossAttnUpBlock2D, "
          "UpBlock2D)",
          t);
  if (c.down_block_types.empty()) fail("config field 'down_block_types' is empty");
  if (c.down_block_types.size() != c.up_block_types.size())
    fail("config has {} down blocks but {} up blocks; they must match", c.down_block_types.size(),
         c.up_block_types.size());
  const int n = static_cast<int>(c.down_block_types.size());

  if (!j.contains("mid_block_type")) {
    c.mid_block_type = "UNetMidBlock2DCrossAttn";
  } else {
    c.mid_block_type = get_string(j, "mid_block_type", "");
    if (!c.mid_block_type.empty() && !kMidTypes.count(c.mid_block_type))
      fail(
          "config field 'mid_block_type' has unknown block type \"{}\" (known: "
          "UNetMidBlock2DCrossAttn, UNetMidBlock2D, null)",
          c.mid_block_type);
  }

  if (!j.contains("block_out_channels")) fail("config field 'block_out_channels' is missing");
  c.block_out_channels = per_stage_ints(j, "block_out_channels", n, 0, 1, kMaxWidth);
  c.layers_per_block = per_stage_ints(j, "layers_per_block", n, 2, 1, kMaxLayers);

  // diffusers: num_attention_heads = num_attention_heads or attention_head_dim, and the value is
  // used as the head count (the per-head width is channels / heads).
  const bool has_heads = j.contains("num_attention_heads") && !j["num_attention_heads"].is_null();
  c.num_attention_heads = per_stage_ints(
      j, has_heads ? "num_attention_heads" : "attention_head_dim", n, 8, 1, kMaxWidth);
  c.cross_attention_dim = per_stage_ints(j, "cross_attention_dim", n, 1280, 1, kMaxWidth);
  c.transformer_layers_per_block =
      per_stage_ints(j, "transformer_layers_per_block", n, 1, 1, kMaxLayers);
  if (j.contains("reverse_transformer_layers_per_block") &&
      !j["reverse_transformer_layers_per_block"].is_null()) {
    const json& r = j["reverse_transformer_layers_per_block"];
    if (!r.is_array() || static_cast<int>(r.size()) != n)
      fail(
          "config field 'reverse_transformer_layers_per_block' must be a list with {} entries, got "
          "{}",
          n, show(r));
    for (const auto& v : r) {
      // diffusers allows a list per up block (one entry per layer); we need one count per block.
      const char* field = "reverse_transformer_layers_per_block";
      int layers = 0;
      if (v.is_number_integer()) {
        layers = as_int(v, field);
      } else if (v.is_array() && !v.empty() && v[0].is_number_integer() &&
                 std::all_of(v.begin(), v.end(), [&](const json& x) { return x == v[0]; })) {
        layers = as_int(v[0], field);
      } else {
        fail(
            "config field 'reverse_transformer_layers_per_block' entry {} is not supported (asdm "
            "implements one layer count per block)",
            show(v));
      }
      if (layers < 1 || layers > kMaxLayers)
        fail("config field '{}' has value {}; it must be between 1 and {}", field, layers,
             kMaxLayers);
      c.reverse_transformer_layers_per_block.push_back(layers);
    }
  }

  if (j.contains("only_cross_attention") && j["only_cross_attention"].is_array()) {
    for (const auto& v : j["only_cross_attention"]) {
      if (!v.is_boolean())
        fail("config field 'only_cross_attention' must hold booleans, got {}", show(v));
      c.only_cross_attention.push_back(v.get<bool>());
    }
    if (static_cast<int>(c.only_cross_attention.size()) != n)
      fail("config field 'only_cross_attention' has {} entries but the UNet has {} stages",
           c.only_cross_attention.size(), n);
  } else {
    c.only_cross_attention.assign(n, get_bool(j, "only_cross_attention", false));
  }

  c.use_linear_projection = get_bool(j, "use_linear_projection", false);
  c.upcast_attention = get_bool(j, "upcast_attention", false);
  if (j.contains("norm_num_groups") && j["norm_num_groups"].is_null())
    fail(
        "config field 'norm_num_groups' = null is not supported (asdm implements group-normalised "
        "UNets)");
  c.norm_num_groups = get_int(j, "norm_num_groups", 32, 1, kMaxWidth);
  c.norm_eps = get_double(j, "norm_eps", 1e-5);
  c.act_fn = get_string(j, "act_fn", "silu");
  if (c.act_fn != "silu")
    fail("config field 'act_fn' = \"{}\" is not supported (asdm implements \"silu\")", c.act_fn);
  c.flip_sin_to_cos = get_bool(j, "flip_sin_to_cos", true);
  c.freq_shift = get_int(j, "freq_shift", 0);
  c.downsample_padding = get_int(j, "downsample_padding", 1);
  if (c.downsample_padding < 0)
    fail("config field 'downsample_padding' = {} must be >= 0", c.downsample_padding);
  c.mid_block_scale_factor = get_double(j, "mid_block_scale_factor", 1.0);
  c.resnet_time_scale_shift = get_string(j, "resnet_time_scale_shift", "default");
  if (c.resnet_time_scale_shift != "default" && c.resnet_time_scale_shift != "scale_shift")
    fail(
        "config field 'resnet_time_scale_shift' = \"{}\" is not supported (asdm implements "
        "\"default\", \"scale_shift\")",
        c.resnet_time_scale_shift);
  c.time_embedding_dim = get_int(j, "time_embedding_dim", 0, 0, kMaxWidth);

  c.addition_embed_type = get_string(j, "addition_embed_type", "");
  if (!c.addition_embed_type.empty() && c.addition_embed_type != "text_time")
    fail(
        "config field 'addition_embed_type' = \"{}\" is not supported (asdm implements null, "
        "\"text_time\")",
        c.addition_embed_type);
  c.addition_time_embed_dim = get_int(j, "addition_time_embed_dim", 0, 0, kMaxWidth);
  c.projection_class_embeddings_input_dim =
      get_int(j, "projection_class_embeddings_input_dim", 0, 0, kMaxWidth);
  if (c.addition_embed_type == "text_time" &&
      (c.addition_time_embed_dim <= 0 || c.projection_class_embeddings_input_dim <= 0))
    fail(
        "addition_embed_type \"text_time\" needs positive 'addition_time_embed_dim' and "
        "'projection_class_embeddings_input_dim'");
  c.time_cond_proj_dim = get_int(j, "time_cond_proj_dim", 0, 0, kMaxWidth);
  c.class_embed_type = get_string(j, "class_embed_type", "");
  if (!c.class_embed_type.empty() && c.class_embed_type != "projection")
    fail(
        "config field 'class_embed_type' = \"{}\" is not supported (asdm implements null, "
        "\"projection\")",
        c.class_embed_type);
  if (c.class_embed_type == "projection" && c.projection_class_embeddings_input_dim <= 0)
    fail(
        "class_embed_type \"projection\" needs a positive 'projection_class_embeddings_input_dim'");
  if (c.class_embed_type == "projection" && c.addition_embed_type == "text_time")
    fail(
        "class_embed_type \"projection\" together with addition_embed_type \"text_time\" is not "
        "supported");

  c.conv_in_kernel = get_int(j, "conv_in_kernel", 3);
  c.conv_out_kernel = get_int(j, "conv_out_kernel", 3);
  if (c.conv_in_kernel < 1 || c.conv_in_kernel % 2 == 0)
    fail("config field 'conv_in_kernel' = {} must be odd and positive", c.conv_in_kernel);
  if (c.conv_out_kernel < 1 || c.conv_out_kernel % 2 == 0)
    fail("config field 'conv_out_kernel' = {} must be odd and positive", c.conv_out_kernel);

  for (int i = 0; i < n; ++i) {
    const int ch = c.block_out_channels[i];
    if (ch % c.norm_num_groups != 0)
      fail("block_out_channels[{}] = {} is not divisible by norm_num_groups = {}", i, ch,
           c.norm_num_groups);
    if (ch % c.num_attention_heads[i] != 0)
      fail("block_out_channels[{}] = {} is not divisible by the head count {}", i, ch,
           c.num_attention_heads[i]);
  }
  return c;
}

UNetConfig load_unet_config(const std::filesystem::path& config_json) {
  const json j = read_json_file(config_json);
  try {
    return parse_unet_config(j);
  } catch (const Error& e) {
    fail("{}: {}", config_json.string(), e.what());
  }
}

json to_diffusers_json(const UNetConfig& c) {
  json j;
  j["_class_name"] = "UNet2DConditionModel";
  j["_diffusers_version"] = "0.31.0";
  j["act_fn"] = c.act_fn;
  j["addition_embed_type"] =
      c.addition_embed_type.empty() ? json(nullptr) : json(c.addition_embed_type);
  j["addition_time_embed_dim"] =
      c.addition_time_embed_dim ? json(c.addition_time_embed_dim) : json(nullptr);
  j["attention_head_dim"] = c.num_attention_heads;
  j["num_attention_heads"] = nullptr;
  j["block_out_channels"] = c.block_out_channels;
  j["center_input_sample"] = c.center_input_sample;
  j["class_embed_type"] = c.class_embed_type.empty() ? json(nullptr) : json(c.class_embed_type);
  j["conv_in_kernel"] = c.conv_in_kernel;
  j["conv_out_kernel"] = c.conv_out_kernel;
  j["cross_attention_dim"] = c.cross_attention_dim;
  j["down_block_types"] = c.down_block_types;
  j["downsample_padding"] = c.downsample_padding;
  j["flip_sin_to_cos"] = c.flip_sin_to_cos;
  j["freq_shift"] = c.freq_shift;
  j["in_channels"] = c.in_channels;
  j["layers_per_block"] = c.layers_per_block;
  j["mid_block_scale_factor"] = c.mid_block_scale_factor;
  j["mid_block_type"] = c.mid_block_type.empty() ? json(nullptr) : json(c.mid_block_type);
  j["norm_eps"] = c.norm_eps;
  j["norm_num_groups"] = c.norm_num_groups;
  j["only_cross_attention"] = c.only_cross_attention;
  j["out_channels"] = c.out_channels;
  j["projection_class_embeddings_input_dim"] = c.projection_class_embeddings_input_dim
                                                   ? json(c.projection_class_embeddings_input_dim)
                                                   : json(nullptr);
  j["resnet_time_scale_shift"] = c.resnet_time_scale_shift;
  j["reverse_transformer_layers_per_block"] = c.reverse_transformer_layers_per_block.empty()
                                                  ? json(nullptr)
                                                  : json(c.reverse_transformer_layers_per_block);
  j["sample_size"] = c.sample_size;
  j["time_cond_proj_dim"] = c.time_cond_proj_dim ? json(c.time_cond_proj_dim) : json(nullptr);
  j["time_embedding_dim"] = c.time_embedding_dim ? json(c.time_embedding_dim) : json(nullptr);
  j["transformer_layers_per_block"] = c.transformer_layers_per_block;
  j["up_block_types"] = c.up_block_types;
  j["upcast_attention"] = c.upcast_attention;
  j["use_linear_projection"] = c.use_linear_projection;
  return j;
}

bool same_config(const UNetConfig& a, const UNetConfig& b) {
  return to_diffusers_json(a) == to_diffusers_json(b);
}

}  // namespace asdm
