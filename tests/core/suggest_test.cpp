#include "core/suggest.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace asdm {
namespace {

TEST(Suggest, ClosestNameOnlyForLikelyTypos) {
  const std::vector<std::string> samplers = {"ddim", "euler", "dpm++2m", "pndm"};
  EXPECT_EQ(closest_name("eulr", samplers), "euler");
  EXPECT_EQ(closest_name("ddmi", samplers), "ddim");        // a swap is one edit
  EXPECT_EQ(closest_name("dpmpp2m", samplers), "dpm++2m");  // two off out of seven
  EXPECT_EQ(closest_name("DDIM", samplers), "ddim");
  EXPECT_EQ(closest_name("heun", samplers), "");
  EXPECT_EQ(closest_name("dpm++", samplers), "");  // two off out of five
  EXPECT_EQ(closest_name("", samplers), "");
  EXPECT_EQ(closest_name("x", {"y"}), "");  // every letter off is no near miss
  EXPECT_EQ(closest_name("anything", {}), "");
}

TEST(Suggest, DidYouMeanNamesTheGuessOrNothing) {
  const std::vector<std::string> units = {"down_blocks.0.resnets.0", "down_blocks.0.resnets.1",
                                          "mid_block.attentions.0"};
  EXPECT_EQ(did_you_mean("down_blocks.0.resnet.0", units),
            "; did you mean 'down_blocks.0.resnets.0'?");
  EXPECT_EQ(did_you_mean("up_blocks.3.resnets.0", units), "");
}

TEST(Suggest, IdsAreGuessedOnlyWithTheirOwnIndices) {
  const std::vector<std::string> units = {"down_blocks.0.resnets.0", "down_blocks.0.resnets.1",
                                          "down_blocks.1.resnets.0", "mid_block.attentions.0"};
  EXPECT_EQ(did_you_mean_id("down_blocks.1.resnet.0", units),
            "; did you mean 'down_blocks.1.resnets.0'?");
  EXPECT_EQ(did_you_mean_id("mid_block.attention.0", units),
            "; did you mean 'mid_block.attentions.0'?");
  // A wrong index is no typo of another index: no guess (did_you_mean would give one).
  EXPECT_EQ(did_you_mean_id("down_blocks.9.resnets.0", units), "");
  EXPECT_EQ(did_you_mean("down_blocks.9.resnets.0", units),
            "; did you mean 'down_blocks.0.resnets.0'?");
  EXPECT_EQ(did_you_mean_id("down_blocks.10.resnets.0", units), "");
}

}  // namespace
}  // namespace asdm
