// Which surviving ResBlock takes which removed sibling's kernels as CLME experts.
#include "pruner/replacements.h"

#include <gtest/gtest.h>

#include "model/model_files.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(ClmeEdits, RemovedResBlocksGoToTheNearestSurvivingSibling) {
  ArchSpec spec = load_arch(locate_model(test::config_path("sd15")));
  for (const char* u : {"down_blocks.1.resnets.1", "mid_block.resnets.1", "up_blocks.1.resnets.0",
                        "up_blocks.1.resnets.2", "down_blocks.3.resnets.0", "down_blocks.3.resnets.1",
                        "down_blocks.2.attentions.0"})
    spec.edits.push_back(Edit::remove(u));
  const std::vector<Edit> edits = clme_edits(spec);
  // down_blocks.3 lost both ResBlocks: nobody inherits them; attention units are not experts.
  const std::vector<Edit> expected = {Edit::clme("down_blocks.1.resnets.0", {"down_blocks.1.resnets.1"}),
                                      Edit::clme("mid_block.resnets.0", {"mid_block.resnets.1"}),
                                      Edit::clme("up_blocks.1.resnets.1", {"up_blocks.1.resnets.0", "up_blocks.1.resnets.2"})};
  EXPECT_EQ(edits, expected);
  spec.edits.insert(spec.edits.end(), edits.begin(), edits.end());
  const auto clme = spec.clme_units();  // valid edits
  EXPECT_EQ(clme.size(), 3u);
  // SD 1.5's up_blocks.1 ResBlocks take 2560, 2560 and 1920 channels: the last one's conv1 differs.
  EXPECT_EQ(clme.at("up_blocks.1.resnets.1").conv1, std::vector<std::string>{"up_blocks.1.resnets.0"});
  EXPECT_EQ(clme.at("up_blocks.1.resnets.1").conv2.size(), 2u);

  ArchSpec none = load_arch(locate_model(test::config_path("sd15")));
  none.edits = {Edit::remove("down_blocks.0.attentions.1")};
  EXPECT_TRUE(clme_edits(none).empty());
}

}  // namespace
}  // namespace asdm
