#pragma once
// asdm init: a Stable Diffusion pipeline folder with random weights at a model's real sizes, from
// a UNet config (configs/sd15.json, sd21.json, sdxl.json, tiny.json) — UNet, VAE, text encoder(s),
// a CLIP-format tokenizer with a small byte-level vocabulary (CLIP's own cannot be downloaded) and
// the scheduler — in the diffusers layout that asdm and diffusers' from_pretrained load. Speed,
// memory and the latency predictor do not depend on the weights' values, so such a folder answers
// them at SD scale; quality needs real weights. Light header.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "model/unet_config.h"
#include "sd/clip_text.h"
#include "sd/vae.h"

namespace asdm {

// The components a UNet config asks for. Text encoders by cross-attention width: CLIP ViT-L/14
// (768: SD 1.x), OpenCLIP ViT-H/14 (1024: SD 2.x), for SDXL (text_time) CLIP ViT-L/14 and
// OpenCLIP ViT-bigG/14 with projection; a 2-layer CLIP for any other width. The VAE is SD's
// (SDXL's scaling factor for SDXL), a small one with the same 8x downscale for other widths.
struct PipelinePlan {
  std::string family;  // "SD 1.x", "SD 2.x", "SDXL", "SD 1.x-like (tiny)"
  UNetConfig unet;
  VaeConfig vae;
  ClipTextConfig text_encoder;
  std::optional<ClipTextConfig> text_encoder_2;  // SDXL
  bool v_prediction = false;                     // SD 2.x at 768²
};
// Throws asdm::Error for an SDXL-style config whose widths do not split into two encoders.
PipelinePlan plan_pipeline(const UNetConfig& unet, const std::string& source);

struct InitOptions {
  std::string config;  // a UNet config.json
  std::string output;  // the pipeline folder to write (must not exist)
  uint64_t seed = 0;   // every weight is a function of it
  std::string dtype;   // weights: float32 (default), float16 or bfloat16
  // With check_steps > 0: sample that many steps at a small size on `device` in `check_dtype`
  // with guidance, and fail unless every latent stays finite and below fp16's range.
  int check_steps = 0;
  std::string device = "cpu", check_dtype = "float32";
};

struct InitResult {
  std::filesystem::path dir;
  std::string family;  // "SD 1.x", "SD 2.x", "SDXL", or "SD 1.x-like (tiny)"
  int64_t unet_params = 0, vae_params = 0, text_encoder_params = 0, text_encoder_2_params = 0;
  double check_max_abs = 0;  // the largest |latent| the check saw (0 without a check)
};

// Throws asdm::Error for a config it cannot make a pipeline for, or an existing output; writes
// through a temporary folder, so a failure leaves nothing. `progress` hears each part as written.
InitResult init_pipeline(const InitOptions& options,
                         const std::function<void(const std::string&)>& progress = {});

}  // namespace asdm
