#include "model/unet_layout.h"

#include <gtest/gtest.h>

#include "core/artifact.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(UNetLayout, Sd15Units) {
  const UNetLayout L = make_layout(load_unet_config(test::config_path("sd15")));
  int res = 0, attn = 0, down = 0, up = 0, fixed = 0, tb = 0;
  for (const auto& u : L.units) {
    res += u.kind == UnitKind::kResBlock;
    attn += u.kind == UnitKind::kAttention;
    down += u.kind == UnitKind::kDownsample;
    up += u.kind == UnitKind::kUpsample;
    fixed += u.kind == UnitKind::kFixed;
    tb += u.kind == UnitKind::kTransformerBlock;
  }
  EXPECT_EQ(res, 8 + 2 + 12);  // down 4x2, mid 2, up 4x3
  EXPECT_EQ(attn, 6 + 1 + 9);  // down 3x2, mid 1, up 3x3
  EXPECT_EQ(down, 3);
  EXPECT_EQ(up, 3);
  EXPECT_EQ(fixed, 4);  // time_embedding, conv_in, conv_norm_out, conv_out
  EXPECT_EQ(tb, 0);     // single-layer transformers have no TransformerBlock units
  const UnitInfo& r = L.at("up_blocks.1.resnets.2");
  EXPECT_EQ(r.in_channels, 1280 + 640);  // hidden + the stage-1 downsampler's skip
  EXPECT_EQ(r.out_channels, 1280);
  EXPECT_TRUE(r.conv_shortcut);
  EXPECT_EQ(L.at("down_blocks.1.attentions.0").heads, 8);
  EXPECT_EQ(L.at("down_blocks.1.attentions.0").head_dim, 80);
  EXPECT_EQ(L.at("mid_block.attentions.0").level, 3);
}

TEST(UNetLayout, SdxlDeepTransformersHaveBlockUnits) {
  const UNetLayout L = make_layout(load_unet_config(test::config_path("sdxl")));
  const UnitInfo& t = L.at("down_blocks.2.attentions.1.transformer_blocks.9");
  EXPECT_EQ(t.kind, UnitKind::kTransformerBlock);
  EXPECT_EQ(t.parent, "down_blocks.2.attentions.1");
  EXPECT_EQ(L.at("down_blocks.2.attentions.1").head_dim, 64);
  EXPECT_NE(L.find("add_embedding"), nullptr);
  EXPECT_EQ(L.find("down_blocks.0.attentions.0"), nullptr);  // DownBlock2D
}

}  // namespace
}  // namespace asdm
