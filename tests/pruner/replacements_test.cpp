// Which surviving ResBlock takes which removed sibling's kernels as CLME experts.
#include "pruner/replacements.h"

#include <gtest/gtest.h>

#include "model/model_files.h"
#include "profiler/cost_model.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(ClmeEdits, RemovedResBlocksGoToTheNearestSurvivingSibling) {
  ArchSpec spec = load_arch(locate_model(test::config_path("sd15")));
  for (const char* u : {"down_blocks.1.resnets.1", "mid_block.resnets.1", "up_blocks.1.resnets.0",
                        "up_blocks.1.resnets.2", "down_blocks.3.resnets.0",
                        "down_blocks.3.resnets.1", "down_blocks.2.attentions.0"})
    spec.edits.push_back(Edit::remove(u));
  const std::vector<Edit> edits = clme_edits(spec);
  // down_blocks.3 lost both ResBlocks: nobody inherits them; attention units are not experts.
  const std::vector<Edit> expected = {
      Edit::clme("down_blocks.1.resnets.0", {"down_blocks.1.resnets.1"}),
      Edit::clme("mid_block.resnets.0", {"mid_block.resnets.1"}),
      Edit::clme("up_blocks.1.resnets.1", {"up_blocks.1.resnets.0", "up_blocks.1.resnets.2"})};
  EXPECT_EQ(edits, expected);
  spec.edits.insert(spec.edits.end(), edits.begin(), edits.end());
  const auto clme = spec.clme_units();  // valid edits
  EXPECT_EQ(clme.size(), 3u);
  // SD 1.5's up_blocks.1 ResBlocks take 2560, 2560 and 1920 channels: the last one's conv1 differs.
  EXPECT_EQ(clme.at("up_blocks.1.resnets.1").conv1,
            std::vector<std::string>{"up_blocks.1.resnets.0"});
  EXPECT_EQ(clme.at("up_blocks.1.resnets.1").conv2.size(), 2u);

  ArchSpec none = load_arch(locate_model(test::config_path("sd15")));
  none.edits = {Edit::remove("down_blocks.0.attentions.1")};
  EXPECT_TRUE(clme_edits(none).empty());
}

TEST(GriEdits, SelfAttentionOfLargeMapsThatTheWindowDivides) {
  ArchSpec spec = load_arch(locate_model(test::config_path("sd15")));
  spec.edits = {Edit::remove("up_blocks.3.attentions.1")};
  InputShape in;  // 64x64 latent (512x512)
  const auto edits = gri_edits(spec, in, 8, 2, 4096);
  // The 64x64 level: down_blocks.0's two attention units and up_blocks.3's three, one removed.
  std::vector<std::string> units;
  for (const auto& e : edits) {
    units.push_back(e.unit);
    EXPECT_EQ(e.window, 8);
    EXPECT_EQ(e.pool, 2);
  }
  EXPECT_EQ(units,
            (std::vector<std::string>{"down_blocks.0.attentions.0", "down_blocks.0.attentions.1",
                                      "up_blocks.3.attentions.0", "up_blocks.3.attentions.2"}));
  EXPECT_EQ(gri_edits(spec, in, 8, 2, 1024).size(), 4u + 5u);  // and the 32x32 level
  EXPECT_TRUE(gri_edits(spec, in, 24, 2, 4096).empty());       // 24 does not divide 64
  spec.edits.insert(spec.edits.end(), edits.begin(), edits.end());
  EXPECT_EQ(spec.gri_units().size(), 4u);
  EXPECT_TRUE(gri_edits(spec, in, 8, 2, 4096).empty());  // already GRI
}

}  // namespace
}  // namespace asdm
