#include "sd/init_pipeline.h"

#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/run_files.h"
#include "model/arch_spec.h"
#include "model/checkpoint.h"
#include "model/runtime.h"
#include "model/unet.h"
#include "sd/clip_text.h"
#include "sd/sd_pipeline.h"
#include "sd/vae.h"

namespace asdm {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The text encoders a UNet's cross-attention width asks for: CLIP ViT-L/14 (768, SD 1.x), OpenCLIP
// ViT-H/14 (1024, SD 2.x), OpenCLIP ViT-bigG/14 with projection (SDXL's second); a small CLIP for
// any other width.
ClipTextConfig text_config(int hidden, bool projection) {
  ClipTextConfig c;
  c.hidden_size = hidden;
  if (hidden == 768) {
    c.intermediate_size = 3072, c.num_hidden_layers = 12, c.num_attention_heads = 12;
  } else if (hidden == 1024) {
    c.intermediate_size = 4096, c.num_hidden_layers = 23, c.num_attention_heads = 16;
    c.hidden_act = "gelu";
  } else if (hidden == 1280) {
    c.intermediate_size = 5120, c.num_hidden_layers = 32, c.num_attention_heads = 20;
    c.hidden_act = "gelu";
  } else {
    c.vocab_size = 1000;
    c.intermediate_size = 4 * hidden, c.num_hidden_layers = 2;
    c.num_attention_heads = hidden % 4 == 0 ? 4 : 1;
  }
  if (projection) c.projection_dim = hidden;
  return c;
}

// GPT-2's byte-to-unicode table, CLIP's alphabet.
std::vector<std::string> byte_alphabet() {
  std::vector<std::string> out(256);
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    const int cp = printable ? b : 256 + n++;
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    out[b] = s;
  }
  return out;
}

// A CLIP tokenizer folder with a byte-level vocabulary: every byte alone and word-final, then the
// start and end tokens (the end token last: SD's text encoders pool at the row's highest id).
void write_tokenizer(const fs::path& dir, const std::string& pad) {
  json vocab = json::object();
  int id = 0;
  const auto alphabet = byte_alphabet();
  for (const auto& a : alphabet) vocab[a] = id++;
  for (const auto& a : alphabet) vocab[a + "</w>"] = id++;
  vocab["<|startoftext|>"] = id++;
  vocab["<|endoftext|>"] = id++;
  write_json_atomic(dir / "vocab.json", vocab);
  write_file_atomic(dir / "merges.txt", "#version: 0.2\n");
  const json special = {{"bos_token", "<|startoftext|>"},
                        {"eos_token", "<|endoftext|>"},
                        {"unk_token", "<|endoftext|>"},
                        {"pad_token", pad}};
  json config = special;
  config["tokenizer_class"] = "CLIPTokenizer";
  config["model_max_length"] = 77;
  config["do_lower_case"] = true;
  config["clean_up_tokenization_spaces"] = true;
  write_json_atomic(dir / "tokenizer_config.json", config);
  write_json_atomic(dir / "special_tokens_map.json", special);
}

json scheduler_config(bool sdxl, bool v_prediction) {
  json j = {{"_class_name", sdxl ? "EulerDiscreteScheduler" : "PNDMScheduler"},
            {"num_train_timesteps", 1000},
            {"beta_start", 0.00085},
            {"beta_end", 0.012},
            {"beta_schedule", "scaled_linear"},
            {"prediction_type", v_prediction ? "v_prediction" : "epsilon"},
            {"steps_offset", 1},
            {"timestep_spacing", "leading"}};
  if (sdxl) {
    j["interpolation_type"] = "linear";
    j["use_karras_sigmas"] = false;
  } else {
    j["set_alpha_to_one"] = false;
    j["skip_prk_steps"] = true;
    j["clip_sample"] = false;
  }
  return j;
}

int64_t count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

PipelinePlan plan_pipeline(const UNetConfig& unet, const std::string& source) {
  PipelinePlan p;
  p.unet = unet;
  const bool sdxl = unet.addition_embed_type == "text_time";
  const int cross = unet.cross_attention_dim.empty() ? 0 : unet.cross_attention_dim[0];
  if (sdxl) {
    const int second =
        unet.projection_class_embeddings_input_dim - 6 * unet.addition_time_embed_dim;
    if (second <= 0 || second >= cross)
      fail("{}: an SDXL-style UNet whose pooled width ({}) does not fit its text width {}", source,
           second, cross);
    p.text_encoder = text_config(cross - second, false);
    p.text_encoder_2 = text_config(second, true);
    p.family = "SDXL";
  } else {
    p.text_encoder = text_config(cross, false);
    p.family = cross == 768 ? "SD 1.x" : cross == 1024 ? "SD 2.x" : "SD 1.x-like (tiny)";
  }
  p.vae.latent_channels = unet.in_channels;
  if (p.family == "SD 1.x-like (tiny)") {
    p.vae.block_out_channels = {8, 16, 16, 16};
    p.vae.layers_per_block = 1;
    p.vae.norm_num_groups = 4;
  }
  if (sdxl) p.vae.scaling_factor = 0.13025;
  p.vae.sample_size = unet.sample_size * 8;
  // SD 2.x at 768² (sample_size 96) is a v-prediction model; its 512² base predicts epsilon.
  p.v_prediction = p.family == "SD 2.x" && unet.sample_size >= 96;
  return p;
}

InitResult init_pipeline(const InitOptions& o,
                         const std::function<void(const std::string&)>& progress) {
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  // ---- plan ----
  const PipelinePlan plan = plan_pipeline(load_unet_config(o.config), o.config);
  const UNetConfig& unet_config = plan.unet;
  const std::string dtype =
      o.dtype.empty() ? "float32" : std::string(to_string(parse_dtype(o.dtype)));
  if (o.output.empty()) fail("give the output folder with -o");
  if (fs::exists(o.output)) fail("{} exists; give a new output folder", o.output);
  const bool sdxl = plan.text_encoder_2.has_value();
  InitResult r;
  r.family = plan.family;

  // ---- write, into a temporary folder beside the output ----
  const fs::path out = o.output;
  StagedOutput tmp(out);
  torch::manual_seed(o.seed);
  {
    say("unet");
    UNet unet(arch_from_config(unet_config));
    r.unet_params = unet.num_parameters();
    save_unet(unet, tmp.path() / "unet", dtype);
  }
  {
    say("vae");
    Vae v(plan.vae);
    r.vae_params = count(v.module());
    v.to("cpu", dtype);
    v.save(tmp.path() / "vae");
  }
  auto text = [&](const ClipTextConfig& c, const std::string& name) {
    say(name);
    ClipTextModel m(c);
    m.module().to(torch_dtype(parse_dtype(dtype)));
    m.save(tmp.path() / name);
    return count(m.module());
  };
  r.text_encoder_params = text(plan.text_encoder, "text_encoder");
  // SD 2.x and SDXL's second tokenizer pad with "!", SD 1.x with the end token.
  write_tokenizer(tmp.path() / "tokenizer", r.family == "SD 2.x" ? "!" : "<|endoftext|>");
  if (sdxl) {
    r.text_encoder_2_params = text(*plan.text_encoder_2, "text_encoder_2");
    write_tokenizer(tmp.path() / "tokenizer_2", "!");
  }
  write_json_atomic(tmp.path() / "scheduler" / "scheduler_config.json",
                    scheduler_config(sdxl, plan.v_prediction));
  json index = {{"_class_name", sdxl ? "StableDiffusionXLPipeline" : "StableDiffusionPipeline"},
                {"_diffusers_version", "0.42.1"},
                {"scheduler", {"diffusers", sdxl ? "EulerDiscreteScheduler" : "PNDMScheduler"}},
                {"text_encoder", {"transformers", "CLIPTextModel"}},
                {"tokenizer", {"transformers", "CLIPTokenizer"}},
                {"unet", {"diffusers", "UNet2DConditionModel"}},
                {"vae", {"diffusers", "AutoencoderKL"}}};
  if (sdxl) {
    index["text_encoder_2"] = {"transformers", "CLIPTextModelWithProjection"};
    index["tokenizer_2"] = {"transformers", "CLIPTokenizer"};
    index["force_zeros_for_empty_prompt"] = true;
  } else {
    index["safety_checker"] = {nullptr, nullptr};
    index["feature_extractor"] = {nullptr, nullptr};
    index["requires_safety_checker"] = false;
  }
  write_json_atomic(tmp.path() / "model_index.json", index);

  // ---- check: a short guided sampling run stays finite and inside fp16's range ----
  if (o.check_steps > 0) {
    say(fmt::format("check: {} steps on {} in {}", o.check_steps, o.device, o.check_dtype));
    auto pipe = SdPipeline::load(tmp.path(), o.device, o.check_dtype);
    GenerateOptions g;
    g.prompts = {"a photo of an astronaut riding a horse on mars"};
    g.steps = o.check_steps;
    g.guidance = 7.5;
    g.height = g.width = 8 * std::max(8, unet_config.sample_size / 8);
    torch::InferenceMode guard;
    const GenerateResult gr = pipe->generate(g);
    const at::Tensor l = gr.latents.to(torch::kFloat32);
    r.check_max_abs = l.abs().max().item<double>();
    if (!torch::isfinite(l).all().item<bool>() || !std::isfinite(r.check_max_abs) ||
        r.check_max_abs > 65504)
      fail("{}: the random weights do not stay finite through {} steps in {} (max |latent| {})",
           o.config, o.check_steps, o.check_dtype, r.check_max_abs);
  }
  tmp.commit();
  r.dir = out;
  return r;
}

}  // namespace asdm
