#pragma once
// UNetConfig: a diffusers UNet2DConditionModel config.json, with every per-stage field resolved to
// one value per down stage. Torch-free: inspect and the cost model use it without weights.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace asdm {

struct UNetConfig {
  int in_channels = 4;
  int out_channels = 4;
  int sample_size = 64;  // latent side
  bool center_input_sample = false;

  std::vector<std::string> down_block_types;  // "CrossAttnDownBlock2D" | "DownBlock2D"
  std::vector<std::string> up_block_types;    // "CrossAttnUpBlock2D" | "UpBlock2D"
  std::string mid_block_type;  // "UNetMidBlock2DCrossAttn" | "UNetMidBlock2D" | "" (none)

  // One entry per down stage (index i). Up block i uses entry n-1-i (diffusers' reversal).
  std::vector<int> block_out_channels;
  std::vector<int> layers_per_block;
  std::vector<int> num_attention_heads;  // heads (diffusers reads attention_head_dim as heads)
  std::vector<int> cross_attention_dim;
  std::vector<int> transformer_layers_per_block;
  std::vector<bool> only_cross_attention;
  // One entry per up block (already in up-block order); empty = reversed
  // transformer_layers_per_block.
  std::vector<int> reverse_transformer_layers_per_block;

  bool use_linear_projection = false;
  bool upcast_attention = false;
  int norm_num_groups = 32;
  double norm_eps = 1e-5;
  std::string act_fn = "silu";
  bool flip_sin_to_cos = true;
  int freq_shift = 0;
  int downsample_padding = 1;
  double mid_block_scale_factor = 1.0;
  std::string resnet_time_scale_shift = "default";  // "default" | "scale_shift"
  int time_embedding_dim = 0;                       // 0: 4 * block_out_channels[0]

  std::string addition_embed_type;  // "" | "text_time"
  int addition_time_embed_dim = 0;
  int projection_class_embeddings_input_dim = 0;
  int time_cond_proj_dim = 0;  // 0: none
  // "" | "projection": a [B, projection_class_embeddings_input_dim] input ("class labels"; the
  // proxy world's pooled text embedding) through a TimestepEmbedding, added to the time embedding.
  std::string class_embed_type;

  int conv_in_kernel = 3;
  int conv_out_kernel = 3;

  // Derived helpers.
  int num_stages() const { return static_cast<int>(block_out_channels.size()); }
  int time_embed_dim() const;
  // Transformer layers of up block i (up-block order).
  int up_transformer_layers(int up_index) const;
  bool has_mid_block() const { return !mid_block_type.empty(); }
};

// Parses a diffusers config.json object. A field whose value we do not implement throws
// asdm::Error naming the field and the value; bookkeeping fields ("_class_name", ...) are ignored;
// a field we do not know is reported through log::warn and otherwise ignored.
UNetConfig parse_unet_config(const nlohmann::json& j);
UNetConfig load_unet_config(const std::filesystem::path& config_json);

// The config in diffusers form (lists per stage, attention_head_dim holding the heads), loadable by
// diffusers' UNet2DConditionModel.from_config.
nlohmann::json to_diffusers_json(const UNetConfig& c);
// Whether two configs describe the same UNet (their diffusers configs are equal).
bool same_config(const UNetConfig& a, const UNetConfig& b);

bool is_cross_attn_block(const std::string& block_type);

}  // namespace asdm
