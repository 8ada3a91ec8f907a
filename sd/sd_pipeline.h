#pragma once
// A whole Stable Diffusion pipeline from a diffusers pipeline folder (issue 9): model_index.json,
// tokenizer/ + text_encoder/ (and tokenizer_2/ + text_encoder_2/ for SDXL), unet/, vae/,
// scheduler/. Text to image as diffusers' StableDiffusionPipeline and StableDiffusionXLPipeline
// compute it: prompt embeddings (SDXL: both encoders' penultimate states concatenated, the second's
// pooled projection and the size/crop time ids), classifier-free guidance, the scheduler's sampler,
// the VAE decoder. The UNet can be swapped for a student. Stage hooks let the profiler time the
// text encoder, each UNet call and the decoder without the model knowing who watches.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/sampler.h"

namespace asdm {

class UNet;
class Vae;
class ClipTextModel;
class ClipTokenizer;

enum class PipelineFamily { kSd, kSdxl };  // SD 1.x/2.x; SDXL
enum class PipelineStage { kTextEncoder, kUnet, kVae };
const char* to_string(PipelineStage s);  // "text_encoder", "unet", "vae"

// Called with begin = true before and false after each stage's work (the UNet once per call).
using StageHook = std::function<void(PipelineStage stage, bool begin)>;

struct GenerateOptions {
  std::vector<std::string> prompts;
  std::vector<std::string> negative_prompts;  // empty, one for all, or one per prompt
  int steps = 25;
  double guidance = 7.5;
  std::string sampler;        // "" = the scheduler config's class (see SchedulerConfig::sampler)
  int height = 0, width = 0;  // 0 = the UNet's sample_size times the VAE's downscale
  uint64_t seed = 0;  // image i starts from prompt_noise(latent shape, seed, noise_offset + i)
  uint64_t noise_offset = 0;  // so that a prompt list sampled in batches gets the noise of one call
  int clip_skip = 0;          // text encoder layers to skip (diffusers' clip_skip)
  // CUDA graphs: each denoising step (the guidance batch, the UNet, the guidance combination and
  // the sampler's arithmetic: model/sampler.h's tensor step) replayed from one graph captured at
  // the first step; PNDM, whose first calls differ in form, replays the model call alone.
  bool graphs = false;
};

// Latents before decoding and the decoded images.
struct GenerateResult {
  at::Tensor latents;  // [B, C, h, w], float32, as the sampler leaves them
  at::Tensor images;   // [B, 3, H, W], float32 on the CPU, in [0, 1]
};

// Prompt conditioning for classifier-free guidance.
struct PromptEmbeddings {
  at::Tensor cond, uncond;           // [B, 77, D]
  at::Tensor pooled, uncond_pooled;  // SDXL: [B, P]; undefined otherwise
};

class SdPipeline {
 public:
  // A pipeline folder, or an original single-file checkpoint (.safetensors, or torch.save's .ckpt
  // read lazily: SD 1.x, 2.x, SDXL; model/single_file.h, model/weights_file.h) with `config`, a
  // pipeline folder of the same family whose configs, tokenizers and scheduler are used (its
  // weights are not read). Throws asdm::Error naming the folder or file and the missing or
  // malformed component.
  static std::unique_ptr<SdPipeline> load(const std::filesystem::path& model,
                                          const std::string& device = "cpu",
                                          const std::string& dtype = "float32",
                                          const std::filesystem::path& config = {});
  ~SdPipeline();

  PipelineFamily family() const;
  const std::filesystem::path& dir() const;  // the folder or single file it was loaded from
  const SchedulerConfig& scheduler() const;
  const ClipTokenizer& tokenizer(int index = 0) const;  // 1: SDXL's second
  const ClipTextModel& text_encoder(int index = 0) const;
  const Vae& vae() const;
  UNet& unet();
  const UNet& unet() const;
  // Swaps the UNet (a student of the same family), returning the previous one.
  std::unique_ptr<UNet> replace_unet(std::unique_ptr<UNet> unet);
  std::string device() const;
  std::string dtype() const;

  // Token ids [B, 77] for one tokenizer.
  at::Tensor tokenize(const std::vector<std::string>& texts, int index = 0) const;
  PromptEmbeddings encode_prompts(const std::vector<std::string>& prompts,
                                  const std::vector<std::string>& negative_prompts, double guidance,
                                  int clip_skip = 0) const;
  // The sampler options the pipeline runs with: the scheduler config's sampler and schedule
  // settings, steps and guidance from `options`. Throws when the config's scheduler is not
  // implemented and `options.sampler` is empty.
  SamplerOptions sampler_options(const GenerateOptions& options) const;
  // Output image size (height, width) for the options; throws when not a multiple of the VAE's
  // downscale factor (8 for SD).
  std::pair<int, int> image_size(const GenerateOptions& options) const;
  // The sampler from given unit-Gaussian noise [B, C, h, w] (embeddings from encode_prompts).
  at::Tensor denoise(const PromptEmbeddings& embeddings, const at::Tensor& noise,
                     const GenerateOptions& options, const StageHook& hook = {},
                     const std::function<void(int, int)>& step_done = {}) const;
  // Latents -> images in [0, 1] on the CPU in float32.
  at::Tensor decode(const at::Tensor& latents, const StageHook& hook = {}) const;
  // Everything: prompts -> images. `noise`, when defined, replaces the seeded noise.
  GenerateResult generate(const GenerateOptions& options, const at::Tensor& noise = {},
                          const StageHook& hook = {},
                          const std::function<void(int, int)>& step_done = {}) const;

 private:
  SdPipeline();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Images [B, 3, H, W] in [0, 1] (any dtype or device) as 8-bit RGB, one H*W*3 byte vector each
// (rows top to bottom, channels interleaved: what core/png.h and the sample grids take).
std::vector<std::vector<uint8_t>> to_rgb8(const at::Tensor& images);

// Writes images [B, 3, H, W] in [0, 1] as PNG files (8-bit RGB): `path` for one image, path with
// "-<i>" before the extension for several. Returns the paths written.
std::vector<std::filesystem::path> write_pngs(const at::Tensor& images,
                                              const std::filesystem::path& path);

}  // namespace asdm
