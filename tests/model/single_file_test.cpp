#include "model/single_file.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "model/module_init.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "model/weights_file.h"
#include "sd/sd_pipeline.h"
#include "tests/tensor_match.h"
#include "tests/test_env.h"
#include "tests/tiny_pipeline.h"
#include "tests/torch_save_bytes.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

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

// Small UNets wired as each family's (the rules infer_single_file_unet takes from the family:
// SD 1.x 8 heads, SD 2.x and SDXL 64-channel heads, 32 norm groups, latent side, SDXL's 256-wide
// time ids, SD 2.x's upcast attention).
nlohmann::json family_config(const std::string& family) {
  nlohmann::json j = {{"block_out_channels", {32, 64}},
                      {"layers_per_block", 1},
                      {"down_block_types", {"CrossAttnDownBlock2D", "DownBlock2D"}},
                      {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"}},
                      {"cross_attention_dim", 48},
                      {"norm_num_groups", 32},
                      {"attention_head_dim", 8},
                      {"sample_size", 64}};
  if (family == "sd2") {
    j["block_out_channels"] = {64, 128};
    j["attention_head_dim"] = {1, 2};
    j["use_linear_projection"] = true;
    j["upcast_attention"] = true;
    j["sample_size"] = 96;
  } else if (family == "sdxl") {
    j["block_out_channels"] = {64, 128};
    j["down_block_types"] = {"DownBlock2D", "CrossAttnDownBlock2D"};
    j["up_block_types"] = {"CrossAttnUpBlock2D", "UpBlock2D"};
    j["transformer_layers_per_block"] = {1, 2};
    j["attention_head_dim"] = {1, 2};
    j["use_linear_projection"] = true;
    j["addition_embed_type"] = "text_time";
    j["addition_time_embed_dim"] = 256;
    j["projection_class_embeddings_input_dim"] = 32 + 6 * 256;
    j["sample_size"] = 128;
  }
  return j;
}

// The UNet's tensors under their LDM names (what an original checkpoint holds), plus `extra`.
fs::path write_ldm_unet(const UNet& unet, const fs::path& file, const TensorMap& extra = {},
                        const std::string& prefix = "") {
  SingleFileLayout layout;
  layout.unet = unet.spec().teacher;
  TensorMap out = extra;
  for (const auto& p : unet.module().named_parameters(true)) {
    std::string key = ldm_source("unet", p.key(), layout).key;
    out[prefix.empty() ? key : ldm_ema_key(key)] = p.value().detach();
  }
  write_tensors(file, out);
  return file;
}

// The tensors of a safetensors file as torch.save writes a training checkpoint (a .ckpt).
fs::path write_as_ckpt(const fs::path& from, const fs::path& to) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  const auto f = open_weights_file(from);
  for (const auto& name : f->names()) tensors.emplace_back(name, f->read(name));
  write_file_atomic(to.string(), test::pkl::state_dict_zip(tensors, /*wrapped=*/true));
  return to;
}

at::Tensor forward(const UNet& u) {
  const UNetConfig& c = u.spec().teacher;
  torch::manual_seed(5);
  torch::NoGradGuard ng;
  const auto x = torch::randn({1, 4, 8, 8}), context = torch::randn({1, 3, 48});
  const auto text = torch::randn({1, 32}), time_ids = torch::randn({1, 6});
  AddedConditions added;
  if (c.addition_embed_type == "text_time") added = {&text, &time_ids};
  return u.forward(x, torch::tensor(20), context, added);
}

// The released configs (SD 1.5, SD 2.1, SDXL base) come back from nothing but their tensors'
// shapes under the LDM names. Built under a SkipInitGuard, their weights are never touched: no
// memory, no time.
TEST(SingleFile, TheReleasedConfigsComeBackFromTheirShapes) {
  for (const char* name : {"sd15", "sd21", "sdxl"}) {
    const UNetConfig config = load_unet_config(test::config_path(name));
    std::unique_ptr<UNet> unet;
    {
      SkipInitGuard skip;
      unet = std::make_unique<UNet>(arch_from_config(config));
    }
    SingleFileLayout layout;
    layout.unet = config;
    std::map<std::string, std::vector<int64_t>> shapes;
    std::vector<std::string> keys;
    for (const auto& p : unet->module().named_parameters(true)) {
      keys.push_back(ldm_source("unet", p.key(), layout).key);
      shapes[keys.back()] = p.value().sizes().vec();
    }
    const auto inferred =
        infer_single_file_unet(keys,
                               [&](const std::string& k) -> std::optional<std::vector<int64_t>> {
                                 const auto it = shapes.find(k);
                                 if (it == shapes.end()) return std::nullopt;
                                 return it->second;
                               },
                               {});
    EXPECT_TRUE(same_config(inferred.config, config))
        << name << ": " << to_diffusers_json(inferred.config).dump() << "\nvs\n"
        << to_diffusers_json(config).dump();
  }
}

class SingleFileFamilies : public ::testing::TestWithParam<std::string> {};

TEST_P(SingleFileFamilies, ItsConfigComesFromItsTensorsAndItsWeightsLoad) {
  const UNetConfig config = parse_unet_config(family_config(GetParam()));
  torch::manual_seed(3);
  UNet teacher(arch_from_config(config));
  const fs::path dir = test::scratch_dir("single_file_unet_" + GetParam());
  const fs::path file = write_ldm_unet(teacher, dir / "unet.safetensors");
  const ModelFiles m = locate_model(file);
  EXPECT_EQ(m.single_file, file);
  EXPECT_EQ(m.single_file_family, GetParam() == "sd2"    ? "SD 2.x"
                                  : GetParam() == "sdxl" ? "SDXL"
                                                         : "SD 1.x");
  EXPECT_TRUE(same_config(m.single_file_config, config))
      << to_diffusers_json(m.single_file_config).dump() << "\nvs\n"
      << to_diffusers_json(config).dump();
  const auto loaded = load_unet(file);
  EXPECT_TRUE(test::same_to_rounding(forward(*loaded), forward(teacher)));
  // The same tensors in a torch.save .ckpt, as the original releases ship them.
  const fs::path ckpt = write_as_ckpt(file, dir / "unet.ckpt");
  const ModelFiles mc = locate_model(ckpt);
  EXPECT_EQ(mc.single_file, ckpt);
  EXPECT_EQ(mc.single_file_family, m.single_file_family);
  EXPECT_TRUE(same_config(mc.single_file_config, config));
  EXPECT_TRUE(test::same_to_rounding(forward(*load_unet(ckpt)), forward(teacher)));

  // A student inherits from the file as from the folder.
  save_unet(teacher, dir / "folder");
  ArchSpec spec = load_arch(m);
  spec.edits = {
      Edit::remove(GetParam() == "sdxl" ? "up_blocks.0.attentions.0" : "up_blocks.1.attentions.0")};
  UNet from_file(spec), from_folder(spec), from_ckpt(spec);
  inherit_weights(from_file, m);
  inherit_weights(from_folder, locate_model(dir / "folder"));
  inherit_weights(from_ckpt, mc);
  EXPECT_TRUE(torch::equal(forward(from_file), forward(from_folder)));
  EXPECT_TRUE(torch::equal(forward(from_ckpt), forward(from_folder)));
}

INSTANTIATE_TEST_SUITE_P(Families, SingleFileFamilies, ::testing::Values("sd1", "sd2", "sdxl"));

TEST(SingleFile, AWholeCheckpointsUnetAndItsEmaCopy) {
  const UNetConfig config = parse_unet_config(family_config("sd1"));
  torch::manual_seed(3);
  UNet main(arch_from_config(config));
  torch::manual_seed(4);
  UNet ema(arch_from_config(config));
  const fs::path dir = test::scratch_dir("single_file_whole");
  // The EMA copy under model_ema.*, a text encoder and a VAE tensor beside the UNet.
  TensorMap extra = {
      {"cond_stage_model.transformer.text_model.final_layer_norm.weight", torch::ones({48})},
      {"first_stage_model.decoder.conv_in.weight", torch::ones({4, 4, 3, 3})}};
  write_ldm_unet(ema, dir / "ema.safetensors", {}, "ema");
  for (auto& [k, v] : read_tensors(dir / "ema.safetensors")) extra[k] = v;
  const fs::path file = write_ldm_unet(main, dir / "whole.safetensors", extra);
  EXPECT_EQ(locate_model(file).single_file_family, "SD 1.x");
  EXPECT_TRUE(test::same_to_rounding(forward(*load_unet(file)), forward(main)));
  set_single_file_ema(true);
  const auto with_ema = load_unet(file);
  EXPECT_EQ(test::error_of([&] { load_unet(dir / "ema.safetensors"); }),
            "'" + (dir / "ema.safetensors").string() +
                "': not a single-file Stable Diffusion checkpoint: it has no "
                "model.diffusion_model.* UNet (asdm reads SD 1.x, 2.x and SDXL files, whole or "
                "the UNet alone)");
  set_single_file_ema(false);
  EXPECT_TRUE(test::same_to_rounding(forward(*with_ema), forward(ema)));
  set_single_file_ema(true);
  const fs::path plain = write_ldm_unet(main, dir / "plain.safetensors");
  EXPECT_EQ(test::error_of([&] { load_unet(plain); }),
            fmt::format("'{}' holds no EMA copy of its UNet (model_ema.* tensors) for --ema",
                        plain.string()));
  set_single_file_ema(false);
}

TEST(SingleFile, WhatCannotBeAUnetIsOneLine) {
  const fs::path dir = test::scratch_dir("single_file_refusals");
  // Channels the family's 32 norm groups do not divide: its config must come from elsewhere.
  torch::manual_seed(3);
  UNet odd(arch_from_config(load_unet_config(test::config_path("tiny"))));
  const fs::path file = write_ldm_unet(odd, dir / "odd.safetensors");
  EXPECT_EQ(
      test::error_of([&] { locate_model(file); }),
      fmt::format("'{}': its UNet has 16 channels, which the 32 norm groups of an SD 1.x UNet "
                  "do not divide: give its config instead (a pipeline folder: `asdm convert "
                  "--model FILE --config FOLDER`)",
                  file.string()));
  // Its config in the metadata (asdm export writes it) is taken as it is.
  {
    SafetensorsFile f(file);
    std::vector<TensorView> views;
    for (const auto& t : f.header().tensors) views.push_back({t.name, t.dtype, t.shape, f.data(t)});
    write_safetensors(dir / "with_config.safetensors", views,
                      {{kSingleFileConfigKey, to_diffusers_json(odd.spec().teacher).dump()}});
  }
  const ModelFiles m = locate_model(dir / "with_config.safetensors");
  EXPECT_TRUE(same_config(m.single_file_config, odd.spec().teacher));
  EXPECT_TRUE(torch::allclose(
      load_unet(dir / "with_config.safetensors")
          ->forward(torch::ones({1, 4, 8, 8}), torch::tensor(3), torch::ones({1, 2, 32})),
      odd.forward(torch::ones({1, 4, 8, 8}), torch::tensor(3), torch::ones({1, 2, 32}))));
  // Not a UNet at all.
  write_tensors(dir / "other.safetensors", {{"transformer.blocks.0.weight", torch::ones({2})}});
  EXPECT_EQ(test::error_of([&] { locate_model(dir / "other.safetensors"); }),
            fmt::format("'{}': not a single-file Stable Diffusion checkpoint: it has no "
                        "model.diffusion_model.* UNet (asdm reads SD 1.x, 2.x and SDXL files, "
                        "whole or the UNet alone)",
                        (dir / "other.safetensors").string()));
}

}  // namespace
}  // namespace asdm
