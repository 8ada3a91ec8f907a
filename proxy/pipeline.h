#pragma once
// The proxy world's text-to-image pipeline: tokenizer, CLIP-style text encoder, the teacher UNet
// (SD 1.x topology at small widths) and the noise schedule, saved as a folder laid out like a
// diffusers pipeline (model_index.json, unet/, text_encoder/, tokenizer/, scheduler/) plus
// proxy.json (the world). The UNet sees images through a lossless 2x2 space-to-depth (a 32x32x3
// image is a 16x16x12 "latent", the stand-in for SD's VAE latent), is conditioned on the text
// encoder's hidden states by cross-attention and on the pooled text embedding (at the end token)
// through diffusers' projection class embedding, and is trained with v-prediction.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/noise_schedule.h"
#include "model/sampler.h"
#include "model/unet.h"
#include "proxy/world.h"
#include "sd/clip_text.h"

namespace asdm::proxy {

// Where a generate() call spent its time (seconds, steady clock; the pipeline runs on the CPU):
// the text encoder (captions and the unconditional caption), the denoising loop (UNet x steps and
// the sampler's arithmetic) and the decoder (latent -> uint8 images).
struct GenerateTimes {
  double text_encoder_s = 0, denoise_s = 0, decoder_s = 0;
};

struct ProxyPipeline {
  WorldSpec world;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ClipTextModel> text_encoder;
  std::unique_ptr<UNet> unet;
  // scheduler/scheduler_config.json: the noise schedule, the prediction type (v) and the DDIM
  // timestep grid (SD 1.x's unless the folder says otherwise); save() writes it back.
  SchedulerConfig scheduler = default_scheduler();
  int space_to_depth = 2;

  // What a new proxy pipeline samples with: DDIM on SD's schedule, v-prediction, SD 1.x's grid.
  static SchedulerConfig default_scheduler();
  // A fresh (randomly initialised) pipeline with the world's teacher architecture.
  static ProxyPipeline create(const WorldSpec& world, uint64_t seed);
  // Loads a saved folder (strict weights); a UNet folder of another architecture (a pruned student)
  // may replace unet/ as long as its config says so.
  static ProxyPipeline load(const std::filesystem::path& dir);
  // Writes the folder atomically per file; dtype "" keeps float32.
  void save(const std::filesystem::path& dir, const std::string& dtype = "") const;

  // Text conditioning for captions ("" = unconditional): hidden [B, T, D] and pooled [B, D].
  std::pair<at::Tensor, at::Tensor> encode(const std::vector<std::string>& captions) const;
  // uint8 HWC images -> [B, 12, H/2, W/2] in [-1, 1], and back (clamped, rounded).
  at::Tensor to_latent(const std::vector<std::vector<uint8_t>>& images) const;
  std::vector<std::vector<uint8_t>> to_images(const at::Tensor& latent) const;
  // The UNet's output for latents x at timestep t under the captions' conditioning.
  at::Tensor predict(const at::Tensor& x, double t, const at::Tensor& hidden,
                     const at::Tensor& pooled, UnitObserver* observer = nullptr) const;
  // Samples images for captions with `options` under this pipeline's scheduler (with_scheduler in
  // model/sampler.h: its prediction type and timestep grid); caption k's noise is a function of
  // (seed, first_index + k) only, so a prompt gets the same noise however prompts are batched.
  // `times`, when given, receives the split of the call's time.
  std::vector<std::vector<uint8_t>> generate(const std::vector<std::string>& captions,
                                             uint64_t seed, const SamplerOptions& options,
                                             UnitObserver* observer = nullptr,
                                             uint64_t first_index = 0,
                                             GenerateTimes* times = nullptr) const;
};

}  // namespace asdm::proxy
