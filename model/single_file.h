#pragma once
// Original single-file Stable Diffusion checkpoints (issue 9 item 5): the LDM layout of SD 1.x/2.x
// (model.diffusion_model., cond_stage_model., first_stage_model.) and the SGM layout of SDXL
// (conditioner.embedders.0 / .1). One name-translation function maps every diffusers tensor of a
// pipeline component to where it lives in such a file (DESIGN.md §3: diffusers keys are asdm's
// names; other layouts are translated at the border). Torch-free.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
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

// The UNet of an original single-file checkpoint, as a model of its own (locate_model takes such a
// file wherever it takes a UNet folder).
struct SingleFileUnet {
  SingleFileFamily family = SingleFileFamily::kSd1;
  UNetConfig config;
  bool config_from_metadata = false;  // the file carried its config (asdm export writes it)
};

// The metadata key under which a single file carries its UNet's diffusers config.json (asdm
// export's single-file form writes it; other tools ignore it).
inline constexpr const char* kSingleFileConfigKey = "asdm_unet_config";

// A single file's UNet config from its tensors: `shape_of` gives a tensor's shape, or nullopt when
// the file lacks it; `keys` are all its tensor names; `metadata` its safetensors metadata. With
// kSingleFileConfigKey in the metadata, that config. Otherwise the shapes say the stages, their
// channels and layers, which have attention and how many transformer layers (per stage, in the
// mid block and up path), the cross-attention width, linear or convolutional projections, the
// input and output channels and kernels, and the time and added embeddings; the rest is the
// family's, as in every released checkpoint of it (diffusers' from_single_file takes it from the
// family's reference config the same way): SD 1.x 8 heads, SD 2.x and SDXL heads of 64 channels;
// 32 norm groups; SDXL's 256-wide time ids; latent side 64, 96 (SD 2.x, its 768 model) or 128.
// The family: from the text encoders' keys, and for a UNet alone (what asdm export writes) from
// the UNet: convolutional projections are SD 1.x's, linear ones SD 2.x's, with added embeddings
// SDXL's. Throws asdm::Error saying what does not fit (no LDM UNet; channels the family rule
// cannot divide, with where a config can come from instead).
SingleFileUnet infer_single_file_unet(
    const std::vector<std::string>& keys,
    const std::function<std::optional<std::vector<int64_t>>(const std::string&)>& shape_of,
    const std::map<std::string, std::string>& metadata);

// The EMA copy of a UNet tensor in an original training checkpoint ("sd-v1-4-full-ema.ckpt"):
// "model.diffusion_model.input_blocks.0.0.weight" ->
// "model_ema.diffusion_modelinput_blocks00weight" (the LDM EMA module's flattened names; diffusers'
// extract_ema reads the same).
std::string ldm_ema_key(const std::string& key);
// Whether pipelines read a single file's UNet from its EMA copy (`asdm --ema`), process-wide like
// the weights variant. Off by default, as in diffusers.
void set_single_file_ema(bool ema);
bool single_file_ema();
// The --ema choice checked against a file with these keys: whether to read its UNet's EMA copy. A
// training checkpoint holds one when it has over 100 model_ema.* tensors (diffusers' rule). Throws
// asdm::Error when --ema asks for a copy the file lacks; says in an info line that the file holds
// one when it is not read.
bool use_single_file_ema(const std::string& file, const std::vector<std::string>& keys);

}  // namespace asdm
