#include "core/unit_id.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace asdm {
namespace {

TEST(UnitId, MatchesDiffusersModulePaths) {
  EXPECT_EQ(unit_id::resnet(Stage::kDown, 1, 0), "down_blocks.1.resnets.0");
  EXPECT_EQ(unit_id::attention(Stage::kUp, 3, 2), "up_blocks.3.attentions.2");
  EXPECT_EQ(unit_id::resnet(Stage::kMid, 0, 1), "mid_block.resnets.1");
  EXPECT_EQ(unit_id::attention(Stage::kMid, 7, 0), "mid_block.attentions.0");  // mid index ignored
  EXPECT_EQ(unit_id::downsampler(0), "down_blocks.0.downsamplers.0");
  EXPECT_EQ(unit_id::upsampler(2), "up_blocks.2.upsamplers.0");
  EXPECT_EQ(unit_id::transformer_block("down_blocks.2.attentions.1", 3),
            "down_blocks.2.attentions.1.transformer_blocks.3");
  EXPECT_EQ(unit_id::skip(0, 2), "down_blocks.0.res.2");
  EXPECT_EQ(unit_id::child("a.b", "norm1"), "a.b.norm1");
  EXPECT_EQ(unit_id::child("", "conv_in"), "conv_in");
}

TEST(UnitId, IsUnderRespectsPathBoundaries) {
  EXPECT_TRUE(unit_id::is_under("down_blocks.1.resnets.0", "down_blocks.1"));
  EXPECT_TRUE(unit_id::is_under("down_blocks.1", "down_blocks.1"));
  EXPECT_FALSE(unit_id::is_under("down_blocks.10.resnets.0", "down_blocks.1"));
  EXPECT_FALSE(unit_id::is_under("down_blocks", "down_blocks.1"));
}

TEST(UnitKind, RoundTripsAndRejectsUnknownNames) {
  for (auto k : {UnitKind::kResBlock, UnitKind::kAttention, UnitKind::kTransformerBlock,
                 UnitKind::kDownsample, UnitKind::kUpsample, UnitKind::kFixed})
    EXPECT_EQ(unit_kind_from_string(to_string(k)), k);
  try {
    unit_kind_from_string("conv");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "unknown unit kind 'conv'; known: resblock, attention, transformer_block, "
                 "downsample, upsample, fixed");
  }
  EXPECT_TRUE(is_removable(UnitKind::kResBlock));
  EXPECT_TRUE(is_removable(UnitKind::kTransformerBlock));
  EXPECT_FALSE(is_removable(UnitKind::kDownsample));
  EXPECT_FALSE(is_removable(UnitKind::kFixed));
}

TEST(UnitIds, BlockOfAUnit) {
  EXPECT_EQ(unit_id::block_of("down_blocks.1.resnets.0"), "down_blocks.1");
  EXPECT_EQ(unit_id::block_of("up_blocks.12.attentions.2.transformer_blocks.1"), "up_blocks.12");
  EXPECT_EQ(unit_id::block_of("up_blocks.3"), "up_blocks.3");
  EXPECT_EQ(unit_id::block_of("mid_block.attentions.0"), "mid_block");
  EXPECT_EQ(unit_id::block_of("conv_in"), "");
  EXPECT_EQ(unit_id::block_of("mid_blocks_x"), "");
}

TEST(JoinLimited, ElidesLongLists) {
  EXPECT_EQ(join_limited({"a", "b", "c"}, 2), "a, b … (1 more)");
  EXPECT_EQ(join_limited({}, 2), "");
}

}  // namespace
}  // namespace asdm
