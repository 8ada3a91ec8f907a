#pragma once
// Original single-file Stable Diffusion checkpoints (issue 9 item 5): the LDM layout of SD 1.x/2.x
// (model.diffusion_model., cond_stage_model., first_stage_model.) and the SGM layout of SDXL
// (conditioner.embedders.0 / .1). One name-translation function maps every diffusers tensor of a
// pipeline component to where it lives in such a file (DESIGN.md §3: diffusers keys are asdm's
// names; other layouts are translated at the border). Torch-free.
#include <string>
#include <vector>

#include "model/unet_config.h"

namespace asdm {

enum class SingleFileFamily { kSd1, kSd2, kSdxl };
const char* to_string(SingleFileFamily f);  // "SD 1.x", "SD 2.x", "SDXL"

// From the file's keys. Throws asdm::Error saying which keys were looked for when the file is not
// a Stable Diffusion checkpoint asdm reads (SD 3, Flux, a bare UNet, a LoRA, ...).
SingleFileFamily detect_single_file_family(const std::vector<std::string>& keys);

// Where one diffusers tensor comes from.
struct LdmSource {
  std::string key;
  int chunk = -1;          // OpenCLIP's fused in_proj: rows [chunk * n, (chunk + 1) * n) of three
  bool transpose = false;  // OpenCLIP's text_projection is stored [hidden, projection]
  bool conv_1x1 = false;   // the VAE's attention projections are stored as 1x1 convolutions
};

// What the block indices of the file depend on.
struct SingleFileLayout {
  SingleFileFamily family = SingleFileFamily::kSd1;
  UNetConfig unet;     // stages, layers per stage, which stages have attention, the mid block
  int vae_stages = 0;  // the VAE's decoder stages are stored in reverse order
};

// component: "unet", "vae", "text_encoder", "text_encoder_2"; key: its diffusers state-dict key
// (text encoders: transformers' "text_model."-prefixed form). Throws asdm::Error for a key outside
// the layout.
LdmSource ldm_source(const std::string& component, const std::string& key,
                     const SingleFileLayout& layout);

// The EMA copy of a UNet tensor in an original training checkpoint ("sd-v1-4-full-ema.ckpt"):
// "model.diffusion_model.input_blocks.0.0.weight" ->
// "model_ema.diffusion_modelinput_blocks00weight" (the LDM EMA module's flattened names; diffusers'
// extract_ema reads the same).
std::string ldm_ema_key(const std::string& key);
// Whether pipelines read a single file's UNet from its EMA copy (`asdm --ema`), process-wide like
// the weights variant. Off by default, as in diffusers.
void set_single_file_ema(bool ema);
bool single_file_ema();

}  // namespace asdm
