#include "model/unet_config.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

using nlohmann::json;

json sd15() { return read_json_file(test::config_path("sd15")); }

TEST(UNetConfig, ReadsSd15WithDiffusersDefaults) {
  const UNetConfig c = parse_unet_config(sd15());
  EXPECT_EQ(c.block_out_channels, (std::vector<int>{320, 640, 1280, 1280}));
  EXPECT_EQ(c.layers_per_block, (std::vector<int>{2, 2, 2, 2}));
  EXPECT_EQ(c.num_attention_heads, (std::vector<int>{8, 8, 8, 8}));  // attention_head_dim = heads
  EXPECT_EQ(c.cross_attention_dim, (std::vector<int>{768, 768, 768, 768}));
  EXPECT_EQ(c.mid_block_type, "UNetMidBlock2DCrossAttn");  // absent field: diffusers' default
  EXPECT_EQ(c.time_embed_dim(), 1280);
  EXPECT_FALSE(c.use_linear_projection);
}

TEST(UNetConfig, ReadsSdxlListsAndTextTime) {
  const UNetConfig c = parse_unet_config(read_json_file(test::config_path("sdxl")));
  EXPECT_EQ(c.transformer_layers_per_block, (std::vector<int>{1, 2, 10}));
  EXPECT_EQ(c.num_attention_heads, (std::vector<int>{5, 10, 20}));
  EXPECT_EQ(c.addition_embed_type, "text_time");
  EXPECT_EQ(c.addition_time_embed_dim, 256);
  EXPECT_EQ(c.projection_class_embeddings_input_dim, 2816);
  EXPECT_EQ(c.up_transformer_layers(0), 10);  // reversed for the up path
  EXPECT_TRUE(c.use_linear_projection);
}

TEST(UNetConfig, NumAttentionHeadsWinsOverAttentionHeadDim) {
  json j = sd15();
  j["num_attention_heads"] = {4, 8, 16, 16};
  EXPECT_EQ(parse_unet_config(j).num_attention_heads, (std::vector<int>{4, 8, 16, 16}));
}

TEST(UNetConfig, NullMidBlockAndPerStageLayers) {
  json j = sd15();
  j["mid_block_type"] = nullptr;
  j["layers_per_block"] = {1, 2, 1, 2};
  const UNetConfig c = parse_unet_config(j);
  EXPECT_FALSE(c.has_mid_block());
  EXPECT_EQ(c.layers_per_block, (std::vector<int>{1, 2, 1, 2}));
}

TEST(UNetConfig, DiffusersJsonRoundTrips) {
  for (const char* name : {"sd15", "sd21", "sdxl", "tiny"}) {
    const UNetConfig a = parse_unet_config(read_json_file(test::config_path(name)));
    const UNetConfig b = parse_unet_config(to_diffusers_json(a));
    EXPECT_EQ(to_diffusers_json(a), to_diffusers_json(b)) << name;
  }
}

struct BadConfig {
  const char* field;
  json value;
  const char* message;
  friend void PrintTo(const BadConfig& b, std::ostream* os) { *os << b.field; }
};

class UNetConfigErrors : public ::testing::TestWithParam<BadConfig> {};

TEST_P(UNetConfigErrors, NameTheFieldAndValue) {
  json j = sd15();
  const auto& p = GetParam();
  if (p.value.is_discarded())
    j.erase(p.field);
  else
    j[p.field] = p.value;
  EXPECT_EQ(test::error_of([&] { parse_unet_config(j); }), p.message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, UNetConfigErrors,
    ::testing::Values(
        BadConfig{
            "down_block_types",
            {"CrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D", "DownBlock2D", "DownBlock2D"},
            "config field 'down_block_types' has unknown block type \"SimpleCrossAttnDownBlock2D\" "
            "(known: CrossAttnDownBlock2D, DownBlock2D)"},
        BadConfig{"mid_block_type", "UNetMidBlock2DSimpleCrossAttn",
                  "config field 'mid_block_type' has unknown block type "
                  "\"UNetMidBlock2DSimpleCrossAttn\" (known: UNetMidBlock2DCrossAttn, "
                  "UNetMidBlock2D, null)"},
        BadConfig{"class_embed_type", "timestep",
                  "config field 'class_embed_type' = \"timestep\" is not supported (asdm "
                  "implements null, \"projection\")"},
        BadConfig{"act_fn", "gelu",
                  "config field 'act_fn' = \"gelu\" is not supported (asdm implements \"silu\")"},
        BadConfig{"addition_embed_type", "text",
                  "config field 'addition_embed_type' = \"text\" is not supported (asdm implements "
                  "null, \"text_time\")"},
        BadConfig{"layers_per_block",
                  {2, 2},
                  "config field 'layers_per_block' has 2 entries but the UNet has 4 stages"},
        BadConfig{"attention_head_dim", "eight",
                  "config field 'attention_head_dim' must be an integer, got \"eight\""},
        BadConfig{"resnet_time_scale_shift", "ada_group",
                  "config field 'resnet_time_scale_shift' = \"ada_group\" is not supported (asdm "
                  "implements \"default\", \"scale_shift\")"},
        BadConfig{"conv_in_kernel", 4,
                  "config field 'conv_in_kernel' = 4 must be odd and positive"},
        BadConfig{"block_out_channels",
                  {320, 640, 1280, 1000},
                  "block_out_channels[3] = 1000 is not divisible by norm_num_groups = 32"},
        BadConfig{"time_embedding_type", "fourier",
                  "config field 'time_embedding_type' = \"fourier\" is not supported (asdm "
                  "implements \"positional\")"},
        BadConfig{"block_out_channels", json::value_t::discarded,
                  "config field 'block_out_channels' is missing"},
        // Sizes: a zero that divided by zero (SIGFPE), negatives that were taken, values an int
        // does not hold that were cut to their low bits (2^32 + 2 read as 2), and sizes that
        // built a layout for minutes.
        BadConfig{"norm_num_groups", 0, "config field 'norm_num_groups' = 0 must be at least 1"},
        BadConfig{"in_channels", -3, "config field 'in_channels' = -3 must be at least 1"},
        BadConfig{"sample_size", 1.5, "config field 'sample_size' must be an integer, got 1.5"},
        BadConfig{"layers_per_block", 4294967298LL,
                  "config field 'layers_per_block' = 4294967298 is out of range"},
        BadConfig{"layers_per_block", 100000000,
                  "config field 'layers_per_block' has value 100000000; it must be at most 1024"},
        BadConfig{"block_out_channels",
                  {320, 640, 1280, 1099511627776LL},
                  "config field 'block_out_channels' = 1099511627776 is out of range"},
        BadConfig{"reverse_transformer_layers_per_block",
                  {{0, 0}, 1, 1, 1},
                  "config field 'reverse_transformer_layers_per_block' has value 0; it must be "
                  "between 1 and 1024"}));

TEST(UNetConfig, MismatchedDownAndUpBlocks) {
  json j = sd15();
  j["up_block_types"] = {"UpBlock2D", "CrossAttnUpBlock2D"};
  EXPECT_EQ(test::error_of([&] { parse_unet_config(j); }),
            "config has 4 down blocks but 2 up blocks; they must match");
}

TEST(UNetConfig, LoadPrefixesTheFile) {
  const auto dir = test::scratch_dir("unet_config_load");
  json j = sd15();
  j["act_fn"] = "relu";
  write_json_atomic(dir / "config.json", j);
  EXPECT_EQ(test::error_of([&] { load_unet_config(dir / "config.json"); }),
            (dir / "config.json").string() +
                ": config field 'act_fn' = \"relu\" is not supported (asdm implements \"silu\")");
}

}  // namespace
}  // namespace asdm
