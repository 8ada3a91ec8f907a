#include "sd/single_file.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "sd/sd_pipeline.h"
#include "tests/test_env.h"
#include "tests/tiny_pipeline.h"

namespace asdm {
namespace {

SingleFileLayout sd15() {
  SingleFileLayout l;
  l.family = SingleFileFamily::kSd1;
  l.unet = load_unet_config(test::config_path("sd15"));
  l.vae_stages = 4;
  return l;
}

// Names as they appear in the original SD 1.5 / 2.x checkpoints (v1-5-pruned.safetensors,
// v2-1_768-ema-pruned.safetensors).
TEST(SingleFile, UNetKeysFollowTheLdmLayout) {
  const auto l = sd15();
  auto key = [&](const std::string& k) { return ldm_source("unet", k, l).key; };
  const std::string p = "model.diffusion_model.";
  EXPECT_EQ(key("conv_in.weight"), p + "input_blocks.0.0.weight");
  EXPECT_EQ(key("time_embedding.linear_2.bias"), p + "time_embed.2.bias");
  EXPECT_EQ(key("down_blocks.0.resnets.1.norm1.weight"), p + "input_blocks.2.0.in_layers.0.weight");
  EXPECT_EQ(key("down_blocks.1.resnets.0.conv_shortcut.weight"),
            p + "input_blocks.4.0.skip_connection.weight");
  EXPECT_EQ(key("down_blocks.1.attentions.1.transformer_blocks.0.attn2.to_k.weight"),
            p + "input_blocks.5.1.transformer_blocks.0.attn2.to_k.weight");
  EXPECT_EQ(key("down_blocks.2.downsamplers.0.conv.bias"), p + "input_blocks.9.0.op.bias");
  EXPECT_EQ(key("down_blocks.3.resnets.1.time_emb_proj.weight"),
            p + "input_blocks.11.0.emb_layers.1.weight");
  EXPECT_EQ(key("mid_block.attentions.0.proj_out.weight"), p + "middle_block.1.proj_out.weight");
  EXPECT_EQ(key("mid_block.resnets.1.conv2.weight"), p + "middle_block.2.out_layers.3.weight");
  EXPECT_EQ(key("up_blocks.0.resnets.2.conv1.weight"), p + "output_blocks.2.0.in_layers.2.weight");
  EXPECT_EQ(key("up_blocks.0.upsamplers.0.conv.weight"), p + "output_blocks.2.1.conv.weight");
  EXPECT_EQ(key("up_blocks.1.upsamplers.0.conv.weight"), p + "output_blocks.5.2.conv.weight");
  EXPECT_EQ(key("up_blocks.3.attentions.2.norm.bias"), p + "output_blocks.11.1.norm.bias");
  EXPECT_EQ(key("up_blocks.3.resnets.2.conv_shortcut.weight"),
            p + "output_blocks.11.0.skip_connection.weight");
  EXPECT_EQ(key("conv_out.weight"), p + "out.2.weight");
  EXPECT_THROW(ldm_source("unet", "down_blocks.0.resnets.0.mystery.weight", l), Error);
}

TEST(SingleFile, VaeAndTextEncoderKeys) {
  auto l = sd15();
  const auto up = ldm_source("vae", "decoder.up_blocks.0.resnets.2.conv2.bias", l);
  EXPECT_EQ(up.key, "first_stage_model.decoder.up.3.block.2.conv2.bias");
  EXPECT_EQ(ldm_source("vae", "decoder.up_blocks.3.resnets.0.conv_shortcut.weight", l).key,
            "first_stage_model.decoder.up.0.block.0.nin_shortcut.weight");
  EXPECT_EQ(ldm_source("vae", "encoder.down_blocks.1.downsamplers.0.conv.weight", l).key,
            "first_stage_model.encoder.down.1.downsample.conv.weight");
  EXPECT_EQ(ldm_source("vae", "decoder.up_blocks.1.upsamplers.0.conv.weight", l).key,
            "first_stage_model.decoder.up.2.upsample.conv.weight");
  const auto q = ldm_source("vae", "encoder.mid_block.attentions.0.to_q.weight", l);
  EXPECT_EQ(q.key, "first_stage_model.encoder.mid.attn_1.q.weight");
  EXPECT_TRUE(q.conv_1x1);
  EXPECT_EQ(ldm_source("vae", "decoder.mid_block.attentions.0.to_out.0.bias", l).key,
            "first_stage_model.decoder.mid.attn_1.proj_out.bias");
  EXPECT_EQ(ldm_source("vae", "encoder.conv_norm_out.weight", l).key,
            "first_stage_model.encoder.norm_out.weight");
  EXPECT_EQ(ldm_source("vae", "post_quant_conv.weight", l).key,
            "first_stage_model.post_quant_conv.weight");
  EXPECT_EQ(ldm_source("text_encoder", "text_model.encoder.layers.11.mlp.fc2.bias", l).key,
            "cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc2.bias");
  l.family = SingleFileFamily::kSd2;
  const auto k =
      ldm_source("text_encoder", "text_model.encoder.layers.3.self_attn.k_proj.weight", l);
  EXPECT_EQ(k.key, "cond_stage_model.model.transformer.resblocks.3.attn.in_proj_weight");
  EXPECT_EQ(k.chunk, 1);
  EXPECT_EQ(ldm_source("text_encoder", "text_model.embeddings.position_embedding.weight", l).key,
            "cond_stage_model.model.positional_embedding");
  l.family = SingleFileFamily::kSdxl;
  const auto proj = ldm_source("text_encoder_2", "text_projection.weight", l);
  EXPECT_EQ(proj.key, "conditioner.embedders.1.model.text_projection");
  EXPECT_TRUE(proj.transpose);
  EXPECT_EQ(ldm_source("text_encoder", "text_model.final_layer_norm.bias", l).key,
            "conditioner.embedders.0.transformer.text_model.final_layer_norm.bias");
}

TEST(SingleFile, EmaKeysAreTheFlattenedNames) {
  EXPECT_EQ(ldm_ema_key("model.diffusion_model.input_blocks.0.0.weight"),
            "model_ema.diffusion_modelinput_blocks00weight");
  EXPECT_EQ(ldm_ema_key("model.diffusion_model.out.2.bias"), "model_ema.diffusion_modelout2bias");
}

TEST(SingleFile, FamiliesAndBadFiles) {
  EXPECT_EQ(
      detect_single_file_family({"model.diffusion_model.input_blocks.0.0.weight",
                                 "cond_stage_model.transformer.text_model.final_layer_norm.bias"}),
      SingleFileFamily::kSd1);
  EXPECT_EQ(detect_single_file_family({"model.diffusion_model.input_blocks.0.0.weight",
                                       "conditioner.embedders.1.model.positional_embedding"}),
            SingleFileFamily::kSdxl);
  try {
    detect_single_file_family({"joint_blocks.0.x_block.mlp.fc1.weight"});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a single-file checkpoint of a known family"),
              std::string::npos);
  }
  // Through the pipeline loader: no --config, an unknown family, a family that differs from
  // --config.
  const auto dir = test::scratch_dir("single-file-bad");
  test::write_tiny_pipeline(dir / "pipe");
  write_tensors(dir / "flux.safetensors",
                {{"double_blocks.0.img_attn.qkv.weight", torch::zeros({2, 2})}});
  auto error = [&](const std::filesystem::path& model, const std::filesystem::path& config) {
    return test::error_of([&] { SdPipeline::load(model, "cpu", "float32", config); });
  };
  EXPECT_NE(error(dir / "flux.safetensors", {}).find("pass --config"), std::string::npos);
  EXPECT_NE(error(dir / "flux.safetensors", dir / "pipe")
                .find("not a single-file checkpoint of a known family"),
            std::string::npos);
  write_tensors(dir / "xl.safetensors",
                {{"model.diffusion_model.input_blocks.0.0.weight", torch::zeros({2})},
                 {"conditioner.embedders.1.model.positional_embedding", torch::zeros({2})}});
  EXPECT_NE(error(dir / "xl.safetensors", dir / "pipe").find("is an SDXL checkpoint but --config"),
            std::string::npos);
  write_tensors(dir / "sd1.safetensors",
                {{"model.diffusion_model.input_blocks.0.0.weight", torch::zeros({2})},
                 {"cond_stage_model.transformer.text_model.x", torch::zeros({2})}});
  EXPECT_NE(error(dir / "sd1.safetensors", dir / "pipe")
                .find("text_encoder does not match its config: missing"),
            std::string::npos);
  EXPECT_NE(error(dir / "pipe", dir / "pipe").find("--config is for single-file checkpoints"),
            std::string::npos);
}

}  // namespace
}  // namespace asdm
