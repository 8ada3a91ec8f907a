#include "model/arch_spec.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

ArchSpec sd15() { return arch_from_config(load_unet_config(test::config_path("sd15"))); }

TEST(ArchSpec, JsonRoundTrips) {
  ArchSpec s = sd15();
  s.edits = {Edit::remove("down_blocks.1.attentions.0"), Edit::remove("up_blocks.2.resnets.1"),
             Edit::drop_layer(2, 0), Edit::drop_mid()};
  const ArchSpec back = arch_spec_from_json(to_json(s));
  EXPECT_EQ(back.edits, s.edits);
  EXPECT_EQ(to_json(back), to_json(s));
  EXPECT_EQ(back.removed_units(),
            (std::set<std::string>{"down_blocks.1.attentions.0", "up_blocks.2.resnets.1"}));
}

TEST(ArchSpec, StructuralEditsGiveStockDiffusersConfigs) {
  ArchSpec s = sd15();
  s.edits = {Edit::drop_layer(1, 0), Edit::drop_mid(), Edit::drop_stage(3)};
  const UNetConfig c = s.student_config();
  EXPECT_EQ(c.layers_per_block, (std::vector<int>{2, 1, 2}));
  EXPECT_EQ(c.block_out_channels, (std::vector<int>{320, 640, 1280}));
  EXPECT_EQ(c.down_block_types.back(), "CrossAttnDownBlock2D");
  EXPECT_EQ(c.up_block_types.front(), "CrossAttnUpBlock2D");
  EXPECT_FALSE(c.has_mid_block());
  EXPECT_TRUE(s.diffusers_expressible());
}

TEST(ArchSpec, TeacherKeysFollowShiftedIndices) {
  ArchSpec s = sd15();
  s.edits = {Edit::drop_layer(1, 0), Edit::drop_stage(3)};
  // down stage 1 keeps teacher layer 1 as its layer 0.
  EXPECT_EQ(s.teacher_key("down_blocks.1.resnets.0.conv1.weight"),
            "down_blocks.1.resnets.1.conv1.weight");
  EXPECT_EQ(s.teacher_key("down_blocks.1.downsamplers.0.conv.weight"),
            "down_blocks.1.downsamplers.0.conv.weight");
  // student up block 0 is teacher up block 1 (teacher up block 0 mirrored the dropped stage 3).
  EXPECT_EQ(s.teacher_key("up_blocks.0.attentions.2.proj_in.weight"),
            "up_blocks.1.attentions.2.proj_in.weight");
  // student up block 1 (mirrors stage 1, 1 + 1 layers): layer 0 <- teacher 1, last layer <-
  // teacher's last (2).
  EXPECT_EQ(s.teacher_key("up_blocks.1.resnets.0.conv1.weight"),
            "up_blocks.2.resnets.1.conv1.weight");
  EXPECT_EQ(s.teacher_key("up_blocks.1.resnets.1.conv1.weight"),
            "up_blocks.2.resnets.2.conv1.weight");
  EXPECT_EQ(s.teacher_key("conv_in.weight"), "conv_in.weight");
}

TEST(ArchSpec, ErrorsNameTheEditOrUnit) {
  ArchSpec s = sd15();
  s.edits = {Edit::remove("down_blocks.9.resnets.0")};
  EXPECT_EQ(test::error_of([&] { s.removed_units(); }).substr(0, 68),
            "unit 'down_blocks.9.resnets.0' not found; known: time_embedding, con");
  s.edits = {Edit::remove("down_blocks.1.resnet.0")};  // a typo, not a wrong index: one guess
  EXPECT_EQ(test::error_of([&] { s.removed_units(); }),
            "unit 'down_blocks.1.resnet.0' not found; did you mean 'down_blocks.1.resnets.0'?");
  s.edits = {Edit::remove("down_blocks.0.downsamplers.0")};
  EXPECT_EQ(test::error_of([&] { s.removed_units(); }),
            "unit 'down_blocks.0.downsamplers.0' is a downsample and cannot be removed (removable "
            "kinds: resblock, attention, transformer_block)");
  s.edits = {Edit::drop_layer(7, 0)};
  EXPECT_EQ(test::error_of([&] { s.student_config(); }),
            "edit drop_layer: stage 7 does not exist (stages 0..3)");
  s.edits = {Edit::drop_mid(), Edit::drop_mid()};
  EXPECT_EQ(test::error_of([&] { s.student_config(); }),
            "edit drop_mid: the UNet has no mid block");
  auto j = to_json(sd15());
  j["edits"] = {{{"op", "prune"}}};
  EXPECT_EQ(test::error_of([&] { arch_spec_from_json(j); }),
            "unknown edit op 'prune' (known: remove, drop_layer, drop_mid, drop_stage, gri, clme)");
  j["edits"] = {{{"op", "drop_layer"}, {"stage", 1}}};
  EXPECT_EQ(test::error_of([&] { arch_spec_from_json(j); }),
            "edit drop_layer needs an integer 'index': {\"op\":\"drop_layer\",\"stage\":1}");
  // 2^32 + 1 is no index (nlohmann's get<int> read it as 1).
  j["edits"] = {{{"op", "drop_layer"}, {"stage", 1}, {"index", 4294967297LL}}};
  EXPECT_EQ(test::error_of([&] { arch_spec_from_json(j); }),
            "edit drop_layer needs an integer 'index': "
            "{\"index\":4294967297,\"op\":\"drop_layer\",\"stage\":1}");
}

}  // namespace
}  // namespace asdm
