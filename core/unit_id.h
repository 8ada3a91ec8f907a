#pragma once
// Units: the one vocabulary (DESIGN.md §3). A unit id is its diffusers module path, the same string
// as the prefix of its checkpoint keys. Every id and every module path in asdm is made here.
#include <optional>
#include <string>
#include <string_view>

namespace asdm {

enum class UnitKind {
  kResBlock,          // ResnetBlock2D: removable, shortcut = identity or conv_shortcut
  kAttention,         // Transformer2DModel: removable, shortcut = identity
  kTransformerBlock,  // BasicTransformerBlock inside a multi-layer Transformer2D: removable
  kDownsample,        // Downsample2D: profiled, never removed (changes the shape)
  kUpsample,          // Upsample2D: profiled, never removed
  kFixed,             // conv_in, time_embedding, add_embedding, conv_norm_out, conv_out
};

// "resblock", "attention", "transformer_block", "downsample", "upsample", "fixed".
std::string_view to_string(UnitKind kind);
// Throws asdm::Error naming the valid kinds.
UnitKind unit_kind_from_string(std::string_view name);
bool is_removable(UnitKind kind);

// Where a block sits in the UNet.
enum class Stage { kDown, kMid, kUp };
std::string_view to_string(Stage stage);

namespace unit_id {

// Fixed parts.
inline constexpr std::string_view kConvIn = "conv_in";
inline constexpr std::string_view kTimeProj = "time_proj";
inline constexpr std::string_view kTimeEmbedding = "time_embedding";
inline constexpr std::string_view kAddTimeProj = "add_time_proj";
inline constexpr std::string_view kAddEmbedding = "add_embedding";
inline constexpr std::string_view kClassEmbedding = "class_embedding";
inline constexpr std::string_view kConvNormOut = "conv_norm_out";
inline constexpr std::string_view kConvOut = "conv_out";

// "down_blocks.1", "mid_block" (index ignored), "up_blocks.2".
std::string block(Stage stage, int index);
// "down_blocks.1.resnets.0"
std::string resnet(Stage stage, int block_index, int layer);
// "down_blocks.1.attentions.0"
std::string attention(Stage stage, int block_index, int layer);
// "down_blocks.0.downsamplers.0"
std::string downsampler(int block_index);
// "up_blocks.2.upsamplers.0"
std::string upsampler(int block_index);
// "<attention>.transformer_blocks.3"
std::string transformer_block(std::string_view attention_id, int index);
// A named sub-module or capture point under a path: child("a.b", "norm1") == "a.b.norm1".
std::string child(std::string_view parent, std::string_view name);
// The j-th skip tensor a down block returns (capture naming of the fixtures):
// "down_blocks.0.res.2".
std::string skip(int block_index, int j);

// The block a unit lies in: "down_blocks.1" for "down_blocks.1.resnets.0", "mid_block" for
// "mid_block.attentions.0.transformer_blocks.1"; "" for the fixed parts (conv_in, ...).
std::string block_of(std::string_view id);

// Whether `id` is `prefix` itself or lies under it ("down_blocks.1" covers
// "down_blocks.1.resnets.0" but not "down_blocks.10").
bool is_under(std::string_view id, std::string_view prefix);

}  // namespace unit_id
}  // namespace asdm
