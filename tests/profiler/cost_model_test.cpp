#include "profiler/cost_model.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/unet.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

CostReport cost(const std::string& name, int latent, const std::set<std::string>& removed = {}) {
  const UNetLayout L = make_layout(load_unet_config(test::config_path(name)));
  InputShape in;
  in.latent_height = in.latent_width = latent;
  return estimate_cost(L, removed, in);
}

TEST(CostModel, Sd15MatchesThePublishedFigures) {
  // BK-SDM's table (thop): SD 1.x UNet, 512x512 image, batch 1, 77 tokens.
  const CostReport r = cost("sd15", 64);
  EXPECT_EQ(r.params, 859'520'964);
  EXPECT_EQ(r.macs, 338'749'194'240);
  EXPECT_EQ(r.attn_macs, 63'026'135'040);
}

TEST(CostModel, ParamsMatchDiffusersForSd21AndSdxl) {
  EXPECT_EQ(cost("sd21", 96).params, 865'910'724);
  EXPECT_EQ(cost("sdxl", 128).params, 2'567'463'684);
}

TEST(CostModel, MacsScaleWithBatchAndRemovalSubtracts) {
  const CostReport one = cost("sd15", 64);
  const UNetLayout L = make_layout(load_unet_config(test::config_path("sd15")));
  InputShape two;
  two.batch = 2;
  EXPECT_EQ(estimate_cost(L, {}, two).macs, 2 * one.macs);
  const std::string id = "up_blocks.3.attentions.2";
  const CostReport less = cost("sd15", 64, {id});
  int64_t unit_macs = 0;
  for (const auto& u : one.units)
    if (u.id == id) unit_macs = u.macs;
  EXPECT_GT(unit_macs, 0);
  EXPECT_EQ(less.macs, one.macs - unit_macs);
}

// The analytic parameter count equals the built module's, for every block option we implement.
TEST(CostModel, AnalyticParamsEqualTheBuiltUNet) {
  auto base = read_json_file(test::config_path("tiny"));
  std::vector<nlohmann::json> variants;
  variants.push_back(base);
  auto v = base;
  v["use_linear_projection"] = true;
  v["transformer_layers_per_block"] = {1, 2, 3, 1};
  v["attention_head_dim"] = {2, 4, 8, 8};
  v["resnet_time_scale_shift"] = "scale_shift";
  v["addition_embed_type"] = "text_time";
  v["addition_time_embed_dim"] = 8;
  v["projection_class_embeddings_input_dim"] = 32 + 6 * 8;
  v["time_cond_proj_dim"] = 12;
  v["only_cross_attention"] = {false, true, false, false};
  v["conv_in_kernel"] = 1;
  variants.push_back(v);
  auto w = base;
  w["mid_block_type"] = "UNetMidBlock2D";
  w["layers_per_block"] = {1, 2, 3, 1};
  w["downsample_padding"] = 0;
  w["class_embed_type"] = "projection";  // the proxy world's pooled text embedding
  w["projection_class_embeddings_input_dim"] = 24;
  variants.push_back(w);
  for (const auto& j : variants) {
    const UNetConfig cfg = parse_unet_config(j);
    ArchSpec spec = arch_from_config(cfg);
    for (const std::set<std::string>& removed :
         {std::set<std::string>{},
          std::set<std::string>{"down_blocks.1.resnets.0", "up_blocks.1.attentions.1",
                                "mid_block.resnets.0"}}) {
      spec.edits.clear();
      for (const auto& id : removed) spec.edits.push_back(Edit::remove(id));
      UNet u(spec);
      const CostReport r = estimate_cost(spec.student_layout(), removed, InputShape{});
      EXPECT_EQ(r.params, u.num_parameters()) << j.dump() << " removed " << removed.size();
    }
  }
}

// CLME-CondConv adds its experts and routers (checked against the built UNet) and their MACs; GRI
// attention cuts its self-attention's key count.
TEST(CostModel, ReplacementBlocksOfAnArchSpec) {
  ArchSpec spec = arch_from_config(load_unet_config(test::config_path("tiny")));
  for (const char* u :
       {"down_blocks.1.resnets.1", "down_blocks.2.resnets.1", "up_blocks.1.resnets.0"})
    spec.edits.push_back(Edit::remove(u));
  InputShape in;
  in.latent_height = in.latent_width = 16;  // the first level's attention sees a 16x16 map
  const CostReport removal = estimate_cost(spec, in);
  EXPECT_EQ(removal.macs, estimate_cost(spec.student_layout(), spec.removed_units(), in).macs);
  spec.edits.push_back(
      Edit::clme("down_blocks.1.resnets.0", {"down_blocks.1.resnets.1"}));  // conv2 only
  spec.edits.push_back(
      Edit::clme("down_blocks.2.resnets.0", {"down_blocks.2.resnets.1"}));  // conv1 and conv2
  spec.edits.push_back(Edit::gri("down_blocks.0.attentions.0", 4, 2));
  const CostReport r = estimate_cost(spec, in);
  EXPECT_EQ(r.params, UNet(spec).num_parameters());
  const int64_t temb = spec.teacher.time_embed_dim();
  // Per conv with one expert: the router (2 outputs) and mixing two 32x32x3x3 kernels (+ biases).
  const int64_t per_conv = 2 * (32 + temb) + 2 * (32 * 32 * 9 + 32);
  EXPECT_EQ(r.macs - removal.macs, 3 * per_conv);
  // 16x16 tokens, window 4 and 8x8 pooled tokens: 16 + 64 keys instead of 256, one transformer
  // block, 16 channels.
  EXPECT_EQ(removal.attn_macs - r.attn_macs, int64_t(2) * 256 * (256 - 80) * 16);
}

TEST(CostModel, JsonHasTotalsAndUnits) {
  const auto j = to_json(cost("tiny", 16));
  EXPECT_TRUE(j["totals"].contains("params"));
  EXPECT_TRUE(j["totals"].contains("macs"));
  EXPECT_TRUE(j["totals"].contains("attn_macs"));
  EXPECT_EQ(j["units"][0]["id"], "time_embedding");
  EXPECT_EQ(j["units"].back()["id"], "conv_out");
}

TEST(CostModel, RejectsNonPositiveInputs) {
  const UNetLayout L = make_layout(load_unet_config(test::config_path("tiny")));
  InputShape in;
  in.batch = 0;
  EXPECT_EQ(test::error_of([&] { estimate_cost(L, {}, in); }),
            "cost model inputs must be positive (got 64x64 latent, batch 0, 77 text tokens)");
}

}  // namespace
}  // namespace asdm
