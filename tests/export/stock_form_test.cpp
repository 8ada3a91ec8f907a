// Which students have a stock diffusers form and a single-file form, the config and key names of
// that form, and the one line that names the first edit without one.
#include "export/stock_form.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/unet_config.h"
#include "pruner/presets.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

UNetConfig deep_tiny() {  // configs/tiny.json with two transformer blocks per attention
  UNetConfig c = load_unet_config(test::config_path("tiny"));
  for (auto& d : c.transformer_layers_per_block) d = 2;
  return c;
}

ArchSpec with(const UNetConfig& c, std::vector<Edit> edits) {
  ArchSpec s = arch_from_config(c);
  s.edits = std::move(edits);
  return s;
}

TEST(StockForm, PresetsAreStockAndSingleFileWhenStagesAgree) {
  const UNetConfig tiny = load_unet_config(test::config_path("tiny"));
  for (const char* name : {"base", "small"}) {
    const StockForm f = stock_form(bk_sdm_preset(tiny, name));
    EXPECT_TRUE(f.stock()) << name;
    EXPECT_TRUE(f.single_file()) << name << ": " << f.single_file_why_not;
    EXPECT_TRUE(f.down_depths.empty());
    EXPECT_EQ(f.stock_key("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"),
              "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight");
  }
  EXPECT_EQ(export_routes(stock_form(bk_sdm_preset(tiny, "small"))),
            "stock diffusers, single file, asdm_diffusers (python/)");
  // One stage with a layer fewer: stock, but not for the single-file loaders.
  const StockForm f = stock_form(with(tiny, {Edit::drop_layer(1, 0)}));
  EXPECT_TRUE(f.stock());
  EXPECT_FALSE(f.single_file());
  EXPECT_EQ(f.single_file_why_not,
            "its stages have different layer counts (2, 1, 2, 2); the single-file loaders assume "
            "one count for every stage");
}

TEST(StockForm, RemovedTransformerBlocksArePerLayerDepths) {
  const ArchSpec spec =
      with(deep_tiny(), {Edit::remove("down_blocks.1.attentions.0.transformer_blocks.0"),
                         Edit::remove("up_blocks.2.attentions.1.transformer_blocks.1")});
  const StockForm f = stock_form(spec);
  ASSERT_TRUE(f.stock()) << f.why_not;
  EXPECT_TRUE(f.single_file());
  EXPECT_EQ(f.down_depths, (std::vector<std::vector<int>>{{2, 2}, {1, 2}, {2, 2}, {2, 2}}));
  EXPECT_EQ(f.up_depths,
            (std::vector<std::vector<int>>{{2, 2, 2}, {2, 2, 2}, {2, 1, 2}, {2, 2, 2}}));
  // Surviving blocks are renumbered from 0; others keep their names.
  EXPECT_EQ(f.stock_key("down_blocks.1.attentions.0.transformer_blocks.1.norm1.weight"),
            "down_blocks.1.attentions.0.transformer_blocks.0.norm1.weight");
  EXPECT_EQ(f.stock_key("up_blocks.2.attentions.1.transformer_blocks.0.ff.net.2.bias"),
            "up_blocks.2.attentions.1.transformer_blocks.0.ff.net.2.bias");
  EXPECT_EQ(f.stock_key("down_blocks.1.attentions.0.proj_in.weight"),
            "down_blocks.1.attentions.0.proj_in.weight");
  const nlohmann::json j = f.diffusers_config();
  EXPECT_EQ(j["transformer_layers_per_block"][1], nlohmann::json({1, 2}));
  EXPECT_EQ(j["reverse_transformer_layers_per_block"][2], nlohmann::json({2, 1, 2}));
  EXPECT_EQ(j["layers_per_block"],
            2);  // one count for every stage: a number, as diffusers reads it
}

TEST(StockForm, TheFirstEditWithoutAStockFormIsNamed) {
  const UNetConfig tiny = load_unet_config(test::config_path("tiny"));
  auto why = [](const ArchSpec& s) { return stock_form(s).why_not; };
  EXPECT_EQ(why(with(tiny, {Edit::drop_mid(), Edit::remove("down_blocks.0.resnets.1")})),
            "edit remove down_blocks.0.resnets.1: a removed ResBlock keeps its shortcut, which no "
            "stock block has");
  EXPECT_EQ(why(with(tiny, {Edit::remove("up_blocks.1.attentions.0")})),
            "edit remove up_blocks.1.attentions.0: a removed attention unit (a Transformer2D of no "
            "blocks) has no stock form");
  EXPECT_EQ(why(with(tiny, {Edit::gri("down_blocks.0.attentions.0", 4, 2)})),
            "edit gri down_blocks.0.attentions.0: GRI attention is not a diffusers attention");
  EXPECT_EQ(why(with(tiny, {Edit::remove("down_blocks.0.resnets.1"),
                            Edit::clme("down_blocks.0.resnets.0", {"down_blocks.0.resnets.1"})})),
            "edit remove down_blocks.0.resnets.1: a removed ResBlock keeps its shortcut, which no "
            "stock block has");
  const UNetConfig deep = deep_tiny();
  EXPECT_EQ(why(with(deep, {Edit::remove("down_blocks.0.attentions.1.transformer_blocks.0"),
                            Edit::remove("down_blocks.0.attentions.1.transformer_blocks.1")})),
            "every transformer block of down_blocks.0.attentions.1 is removed: a Transformer2D of "
            "no blocks has no stock form");
  // tiny's last stage has no attention: the mid block's depth can go in its place.
  const StockForm mid =
      stock_form(with(deep, {Edit::remove("mid_block.attentions.0.transformer_blocks.1")}));
  ASSERT_TRUE(mid.stock()) << mid.why_not;
  EXPECT_EQ(mid.down_depths.back(), (std::vector<int>{1, 1}));
  // With attention in the last stage, its first layer and the mid block must agree.
  UNetConfig attn_last = deep;
  attn_last.down_block_types.back() = "CrossAttnDownBlock2D";
  attn_last.up_block_types.front() = "CrossAttnUpBlock2D";
  EXPECT_EQ(why(with(attn_last, {Edit::remove("mid_block.attentions.0.transformer_blocks.1")})),
            "mid_block.attentions.0 would have transformer depth 1 and down_blocks.3.attentions.0 "
            "depth 2: stock configs give both the same depth");
  EXPECT_TRUE(
      stock_form(with(attn_last, {Edit::remove("mid_block.attentions.0.transformer_blocks.1"),
                                  Edit::remove("down_blocks.3.attentions.0.transformer_blocks.0")}))
          .stock());
  const StockForm f = stock_form(with(tiny, {Edit::remove("up_blocks.1.attentions.0")}));
  EXPECT_FALSE(f.single_file());
  EXPECT_EQ(export_routes(f).rfind("asdm_diffusers (python/); no stock form: edit remove", 0), 0u);
}

}  // namespace
}  // namespace asdm
