#pragma once
// A tiny SD 1.x pipeline folder with seeded random weights, written by asdm's own savers (no
// Python): an ASCII byte-level BPE tokenizer with a few merges, a 2-layer CLIP text encoder, the
// tiny UNet (configs/tiny.json), a 2-stage VAE and a scheduler config. For model, profiler and CLI
// tests.
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/checkpoint.h"
#include "sd/clip_text.h"
#include "sd/vae.h"
#include "tests/test_env.h"

namespace asdm::test {

// Tokens: printable ASCII with and without "</w>", the merges' results, the two specials.
inline void write_tiny_tokenizer(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  nlohmann::json vocab = nlohmann::json::object();
  auto add = [&](const std::string& t) {
    if (!vocab.contains(t)) vocab[t] = int(vocab.size());
  };
  for (char c = '!'; c <= '~'; ++c) add(std::string(1, c));
  for (char c = '!'; c <= '~'; ++c) add(std::string(1, c) + "</w>");
  const std::vector<std::string> merges = {"t h", "th e</w>", "o f</w>", "r e", "re d</w>"};
  for (const auto& m : merges) add(m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1));
  add("<|startoftext|>");
  add("<|endoftext|>");
  write_json_atomic(dir / "vocab.json", vocab);
  std::string text = "#version: 0.2\n";
  for (const auto& m : merges) text += m + "\n";
  write_file_atomic(dir / "merges.txt", text);
  write_json_atomic(dir / "tokenizer_config.json",
                    {{"model_max_length", 77}, {"pad_token", "<|endoftext|>"}});
}

inline void write_tiny_pipeline(const std::filesystem::path& dir,
                                const std::string& scheduler = "DDIMScheduler") {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  torch::manual_seed(3);
  write_tiny_tokenizer(dir / "tokenizer");
  ClipTextConfig tc;
  tc.vocab_size = 200;
  tc.hidden_size = 32;
  tc.intermediate_size = 64;
  tc.num_hidden_layers = 2;
  tc.num_attention_heads = 4;
  ClipTextModel(tc).save(dir / "text_encoder");
  UNet unet(arch_from_config(load_unet_config(config_path("tiny"))));
  save_unet(unet, dir / "unet");
  VaeConfig vc;
  vc.block_out_channels = {8, 16};
  vc.layers_per_block = 1;
  vc.norm_num_groups = 4;
  vc.sample_size = 32;
  Vae(vc).save(dir / "vae");
  fs::create_directories(dir / "scheduler");
  write_json_atomic(dir / "scheduler" / "scheduler_config.json",
                    {{"_class_name", scheduler},
                     {"beta_schedule", "scaled_linear"},
                     {"beta_start", 0.00085},
                     {"beta_end", 0.012},
                     {"num_train_timesteps", 1000},
                     {"prediction_type", "epsilon"},
                     {"set_alpha_to_one", false},
                     {"steps_offset", 1},
                     {"clip_sample", false},
                     {"skip_prk_steps", true}});
  write_json_atomic(dir / "model_index.json", {{"_class_name", "StableDiffusionPipeline"},
                                               {"tokenizer", {"transformers", "CLIPTokenizer"}},
                                               {"text_encoder", {"transformers", "CLIPTextModel"}},
                                               {"unet", {"diffusers", "UNet2DConditionModel"}},
                                               {"vae", {"diffusers", "AutoencoderKL"}},
                                               {"scheduler", {"diffusers", scheduler}}});
}

}  // namespace asdm::test
