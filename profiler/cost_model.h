#pragma once
// Analytic cost model: parameters and MACs per unit, from the layout alone (no weights).
//
// Counting rule (that of the `thop` counter used by the BK-SDM paper, so totals are comparable
// with published figures): a convolution costs out_elements x (in_channels / groups x kernel area),
// a linear layer out_elements x in_features (biases not counted), a LayerNorm 4 x elements
// (thop's rule for an affine normalisation), GroupNorm, activations, resampling and additions 0.
// The attention matmuls (Q·Kᵀ and attention·V, 2 x B x N x M x C per attention) are not counted by
// thop; they are reported apart in `attn_macs` and are not part of `macs`.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/input_shape.h"
#include "model/unet_layout.h"

namespace asdm {

struct UnitCost {
  std::string id;
  UnitKind kind = UnitKind::kFixed;
  std::string parent;  // a TransformerBlock's Transformer2D; its costs are included in the parent
  int height = 0;      // spatial size of the unit's input
  int width = 0;
  int in_channels = 0;
  int out_channels = 0;
  bool removed = false;  // removed by the ArchSpec: only its shortcut is counted
  int64_t params = 0;
  int64_t macs = 0;
  int64_t attn_macs = 0;
};

struct CostReport {
  InputShape input;             // costs are per forward at input.batch (latent sides, tokens)
  std::vector<UnitCost> units;  // forward order, like UNetLayout::units
  int64_t params = 0;           // totals over top-level units (no double counting)
  int64_t macs = 0;
  int64_t attn_macs = 0;
};

CostReport estimate_cost(const UNetLayout& layout, const std::set<std::string>& removed,
                         const InputShape& input);

// A student of an ArchSpec: its layout and removed units as above, plus its replacement blocks.
// A CLME-CondConv adds its experts' kernels and biases and its router to the params, and to the
// MACs its router (a linear layer) and the per-sample kernel mixing (experts x kernel size per
// sample; the grouped convolution itself costs what the plain one did). GRI attention changes
// attn_macs: its self-attention's queries each see gri_keys_per_query keys instead of H x W.
struct ArchSpec;
CostReport estimate_cost(const ArchSpec& spec, const InputShape& input);

nlohmann::json to_json(const CostReport& r);

}  // namespace asdm
