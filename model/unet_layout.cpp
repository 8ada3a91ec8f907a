#include "model/unet_layout.h"

#include "core/error.h"
#include "core/suggest.h"

namespace asdm {

const UnitInfo* UNetLayout::find(const std::string& id) const {
  for (const auto& u : units)
    if (u.id == id) return &u;
  return nullptr;
}

const UnitInfo& UNetLayout::at(const std::string& id) const {
  if (const auto* u = find(id)) return *u;
  const std::vector<std::string> known = ids();
  if (const std::string guess = did_you_mean_id(id, known); !guess.empty())
    fail("unit '{}' not found{}", id, guess);
  fail("unit '{}' not found; known: {}", id, join_limited(known));
}

std::vector<std::string> UNetLayout::ids(bool removable_only) const {
  std::vector<std::string> out;
  for (const auto& u : units)
    if (!removable_only || u.removable()) out.push_back(u.id);
  return out;
}

namespace {

UnitInfo fixed(std::string_view id, int in, int out) {
  UnitInfo u;
  u.id = std::string(id);
  u.kind = UnitKind::kFixed;
  u.in_channels = in;
  u.out_channels = out;
  return u;
}

// Adds a Transformer2D unit and, when it has several layers, one unit per transformer block.
void add_attention(UNetLayout& L, BlockInfo& b, int layer, int channels, int heads, int cross_dim,
                   int layers, bool only_cross) {
  UnitInfo u;
  u.id = unit_id::attention(b.stage, b.index, layer);
  u.kind = UnitKind::kAttention;
  u.stage = b.stage;
  u.block = b.index;
  u.layer = layer;
  u.level = b.level;
  u.in_channels = u.out_channels = channels;
  u.heads = heads;
  u.head_dim = channels / heads;
  u.cross_dim = cross_dim;
  u.transformer_layers = layers;
  u.only_cross_attention = only_cross;
  b.attentions.push_back(static_cast<int>(L.units.size()));
  const std::string parent = u.id;
  L.units.push_back(u);
  if (layers > 1) {
    for (int k = 0; k < layers; ++k) {
      UnitInfo t = u;
      t.id = unit_id::transformer_block(parent, k);
      t.kind = UnitKind::kTransformerBlock;
      t.layer = k;
      t.transformer_layers = 1;
      t.parent = parent;
      L.units.push_back(t);
    }
  }
}

void add_resnet(UNetLayout& L, BlockInfo& b, int layer, int in, int out, double scale) {
  UnitInfo u;
  u.id = unit_id::resnet(b.stage, b.index, layer);
  u.kind = UnitKind::kResBlock;
  u.stage = b.stage;
  u.block = b.index;
  u.layer = layer;
  u.level = b.level;
  u.in_channels = in;
  u.out_channels = out;
  u.conv_shortcut = in != out;
  u.output_scale = scale;
  b.resnets.push_back(static_cast<int>(L.units.size()));
  L.units.push_back(u);
}

// A down- or upsampler (never removable): same channels in and out.
void add_sampler(UNetLayout& L, BlockInfo& b, UnitKind kind, int level, int channels) {
  UnitInfo u;
  u.id =
      kind == UnitKind::kDownsample ? unit_id::downsampler(b.index) : unit_id::upsampler(b.index);
  u.kind = kind;
  u.stage = b.stage;
  u.block = b.index;
  u.level = level;
  u.in_channels = u.out_channels = channels;
  b.sampler = static_cast<int>(L.units.size());
  L.units.push_back(u);
}

}  // namespace

UNetLayout make_layout(const UNetConfig& c) {
  UNetLayout L;
  L.config = c;
  const int n = c.num_stages();
  const int c0 = c.block_out_channels[0];
  const int temb = c.time_embed_dim();

  L.units.push_back(fixed(unit_id::kTimeEmbedding, c0, temb));
  if (c.class_embed_type == "projection")
    L.units.push_back(
        fixed(unit_id::kClassEmbedding, c.projection_class_embeddings_input_dim, temb));
  if (c.addition_embed_type == "text_time")
    L.units.push_back(fixed(unit_id::kAddEmbedding, c.projection_class_embeddings_input_dim, temb));
  L.units.push_back(fixed(unit_id::kConvIn, c.in_channels, c0));

  // Down blocks.
  int out_ch = c0;
  for (int i = 0; i < n; ++i) {
    const int in_ch = out_ch;
    out_ch = c.block_out_channels[i];
    BlockInfo b;
    b.stage = Stage::kDown;
    b.index = i;
    b.id = unit_id::block(Stage::kDown, i);
    b.type = c.down_block_types[i];
    b.cross_attention = is_cross_attn_block(b.type);
    b.level = i;
    for (int j = 0; j < c.layers_per_block[i]; ++j) {
      add_resnet(L, b, j, j == 0 ? in_ch : out_ch, out_ch, 1.0);
      if (b.cross_attention)
        add_attention(L, b, j, out_ch, c.num_attention_heads[i], c.cross_attention_dim[i],
                      c.transformer_layers_per_block[i], c.only_cross_attention[i]);
    }
    if (i < n - 1) add_sampler(L, b, UnitKind::kDownsample, i, out_ch);
    L.down.push_back(b);
  }

  // Mid block.
  if (c.has_mid_block()) {
    const int ch = c.block_out_channels[n - 1];
    BlockInfo b;
    b.stage = Stage::kMid;
    b.index = 0;
    b.id = unit_id::block(Stage::kMid, 0);
    b.type = c.mid_block_type;
    b.cross_attention = is_cross_attn_block(b.type);
    b.level = n - 1;
    add_resnet(L, b, 0, ch, ch, c.mid_block_scale_factor);
    // UNetMidBlock2DCrossAttn: resnet, (attention, resnet). diffusers builds the attention-free
    // UNetMidBlock2D of a UNet2DConditionModel with num_layers=0: a single resnet.
    if (b.cross_attention) {
      add_attention(L, b, 0, ch, c.num_attention_heads[n - 1], c.cross_attention_dim[n - 1],
                    c.transformer_layers_per_block[n - 1], false);
      add_resnet(L, b, 1, ch, ch, c.mid_block_scale_factor);
    }
    L.mid = b;
  }

  // Up blocks (diffusers' channel bookkeeping: each resnet takes the running hidden state plus
  // the matching skip tensor).
  int prev_out = c.block_out_channels[n - 1];
  for (int i = 0; i < n; ++i) {
    const int r = n - 1 - i;  // the down stage this up block mirrors
    const int up_out = c.block_out_channels[r];
    const int up_in = c.block_out_channels[std::max(r - 1, 0)];
    const int layers = c.layers_per_block[r] + 1;
    BlockInfo b;
    b.stage = Stage::kUp;
    b.index = i;
    b.id = unit_id::block(Stage::kUp, i);
    b.type = c.up_block_types[i];
    b.cross_attention = is_cross_attn_block(b.type);
    b.level = r;
    for (int j = 0; j < layers; ++j) {
      const int skip_ch = j == layers - 1 ? up_in : up_out;
      const int res_in = j == 0 ? prev_out : up_out;
      add_resnet(L, b, j, res_in + skip_ch, up_out, 1.0);
      if (b.cross_attention)
        add_attention(L, b, j, up_out, c.num_attention_heads[r], c.cross_attention_dim[r],
                      c.up_transformer_layers(i), c.only_cross_attention[r]);
    }
    if (i < n - 1) add_sampler(L, b, UnitKind::kUpsample, r, up_out);
    prev_out = up_out;
    L.up.push_back(b);
  }

  L.units.push_back(fixed(unit_id::kConvNormOut, c0, c0));
  L.units.push_back(fixed(unit_id::kConvOut, c0, c.out_channels));
  return L;
}

}  // namespace asdm
