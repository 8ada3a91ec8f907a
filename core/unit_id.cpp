#include "core/unit_id.h"

#include <array>
#include <utility>

#include <fmt/format.h>

#include "core/error.h"

namespace asdm {
namespace {

constexpr std::array<std::pair<UnitKind, std::string_view>, 6> kKindNames{{
    {UnitKind::kResBlock, "resblock"},
    {UnitKind::kAttention, "attention"},
    {UnitKind::kTransformerBlock, "transformer_block"},
    {UnitKind::kDownsample, "downsample"},
    {UnitKind::kUpsample, "upsample"},
    {UnitKind::kFixed, "fixed"},
}};

std::string_view blocks_prefix(Stage stage) {
  switch (stage) {
    case Stage::kDown:
      return "down_blocks";
    case Stage::kMid:
      return "mid_block";
    case Stage::kUp:
      return "up_blocks";
  }
  return "?";
}

}  // namespace

std::string_view to_string(UnitKind kind) {
  for (const auto& [k, name] : kKindNames)
    if (k == kind) return name;
  return "?";
}

UnitKind unit_kind_from_string(std::string_view name) {
  std::vector<std::string> known;
  for (const auto& [k, n] : kKindNames) {
    if (n == name) return k;
    known.emplace_back(n);
  }
  fail("unknown unit kind '{}'; known: {}", name, join_limited(known));
}

bool is_removable(UnitKind kind) {
  return kind == UnitKind::kResBlock || kind == UnitKind::kAttention ||
         kind == UnitKind::kTransformerBlock;
}

std::string_view to_string(Stage stage) {
  switch (stage) {
    case Stage::kDown:
      return "down";
    case Stage::kMid:
      return "mid";
    case Stage::kUp:
      return "up";
  }
  return "?";
}

namespace unit_id {

std::string block(Stage stage, int index) {
  if (stage == Stage::kMid) return std::string(blocks_prefix(stage));
  return fmt::format("{}.{}", blocks_prefix(stage), index);
}
std::string resnet(Stage stage, int block_index, int layer) {
  return fmt::format("{}.resnets.{}", block(stage, block_index), layer);
}
std::string attention(Stage stage, int block_index, int layer) {
  return fmt::format("{}.attentions.{}", block(stage, block_index), layer);
}
std::string downsampler(int block_index) {
  return fmt::format("{}.downsamplers.0", block(Stage::kDown, block_index));
}
std::string upsampler(int block_index) {
  return fmt::format("{}.upsamplers.0", block(Stage::kUp, block_index));
}
std::string transformer_block(std::string_view attention_id, int index) {
  return fmt::format("{}.transformer_blocks.{}", attention_id, index);
}
std::string child(std::string_view parent, std::string_view name) {
  if (parent.empty()) return std::string(name);
  return fmt::format("{}.{}", parent, name);
}
std::string skip(int block_index, int j) {
  return fmt::format("{}.res.{}", block(Stage::kDown, block_index), j);
}

std::string block_of(std::string_view id) {
  for (std::string_view stage : {"down_blocks.", "up_blocks."}) {
    if (id.substr(0, stage.size()) != stage) continue;
    const size_t end = id.find('.', stage.size());
    return std::string(id.substr(0, end));
  }
  return is_under(id, "mid_block") ? "mid_block" : "";
}

bool is_under(std::string_view id, std::string_view prefix) {
  if (id.size() < prefix.size() || id.substr(0, prefix.size()) != prefix) return false;
  return id.size() == prefix.size() || id[prefix.size()] == '.';
}

}  // namespace unit_id
}  // namespace asdm
