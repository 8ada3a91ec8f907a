#pragma once
// UNetLayout: the UNet's structure (blocks and units with their channels, heads and level) made
// from a config, without weights. The torch UNet, the cost model, inspect and every later stage
// read it, so the structure is worked out once.
#include <optional>
#include <string>
#include <vector>

#include "core/unit_id.h"
#include "model/unet_config.h"

namespace asdm {

struct UnitInfo {
  std::string id;
  UnitKind kind = UnitKind::kFixed;
  Stage stage = Stage::kDown;  // meaningless for fixed units
  int block = -1;              // block index within its stage (down/up), 0 for mid
  int layer = -1;              // resnets.j / attentions.j index; transformer block index
  int level = 0;  // number of 2x downsamplings before the unit's input (its resolution level)
  int in_channels = 0;
  int out_channels = 0;
  // ResBlock
  bool conv_shortcut = false;  // 1x1 shortcut conv (in != out channels)
  double output_scale = 1.0;   // out = (shortcut + branch) / output_scale
  // Attention (Transformer2D) and TransformerBlock
  int heads = 0;
  int head_dim = 0;
  int cross_dim = 0;
  int transformer_layers = 0;
  bool only_cross_attention = false;
  std::string parent;  // a TransformerBlock's Transformer2D id; "" otherwise
  bool removable() const { return is_removable(kind); }
};

struct BlockInfo {
  Stage stage = Stage::kDown;
  int index = 0;
  std::string id;    // "down_blocks.1", "mid_block", "up_blocks.0"
  std::string type;  // diffusers block type
  bool cross_attention = false;
  int level = 0;
  std::vector<int> resnets;     // indices into UNetLayout::units
  std::vector<int> attentions;  // indices into UNetLayout::units ("" when none)
  int sampler = -1;             // downsampler / upsampler unit index, -1 when none
};

struct UNetLayout {
  UNetConfig config;
  std::vector<UnitInfo> units;  // in forward order; fixed parts included
  std::vector<BlockInfo> down, up;
  std::optional<BlockInfo> mid;

  // nullptr when absent.
  const UnitInfo* find(const std::string& id) const;
  // Throws asdm::Error: "unit 'x' not found; known: ...".
  const UnitInfo& at(const std::string& id) const;
  std::vector<std::string> ids(bool removable_only = false) const;
};

UNetLayout make_layout(const UNetConfig& config);

}  // namespace asdm
