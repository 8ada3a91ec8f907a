#pragma once
// The generate stage (asdm generate) as a library call: text to image with a Stable Diffusion
// pipeline (a student UNet optionally swapped in), the PNGs and their record <stem>.json.
// Light header.
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/artifact.h"

namespace asdm {

struct GenerateStageOptions {
  std::string model, config;       // pipeline folder, or single file with a config folder
  std::string unet;                // a student UNet folder to use instead of the pipeline's
  std::string output = "out.png";  // several prompts: <stem>-<i>.png
  std::vector<std::string> prompts, negative_prompts;
  std::string prompts_file;  // more prompts, one per line
  std::string sampler;       // "": the scheduler config's class
  std::string device = "cpu", dtype = "fp32";
  int steps = 25, height = 0, width = 0, clip_skip = 0;
  double guidance = 7.5;
  uint64_t seed = 0;
  // Also write <stem>.safetensors: "images" [B, 3, H, W] float32 in [0, 1] and "latents" as the
  // sampler left them, for comparisons finer than 8-bit PNGs (other runtimes, other dtypes).
  bool tensors = false;
  // A cache plan (model/cache_plan.h, issue 23): units reuse their branch output across the
  // sampler's model calls as the plan says; checked against the UNet and the sampler's calls.
  std::string cache_plan;
  // CUDA graphs for the denoising steps (GenerateOptions::graphs); CUDA only, not with a cache
  // plan.
  bool graphs = false;
  bool channels_last = false;  // the UNet in channels-last memory (UNet::set_channels_last)
};

// <stem>.json: what was generated, how, and host-clock stage times of this one run.
struct GenerateRecord {
  static constexpr const char* kArtifact = "generate";
  static constexpr int kSchemaVersion = 1;
  ArtifactHeader header;
  std::string model, unet;
  std::vector<std::string> prompts, negative_prompts;
  std::string sampler, dtype;
  int steps = 0, height = 0, width = 0;
  double guidance = 0;
  uint64_t seed = 0;
  std::vector<std::string> images;         // file names beside the record
  std::map<std::string, double> stage_ms;  // text_encoder, unet, vae
  double total_s = 0;
  std::string cache_plan;        // "" = none
  int64_t cache_peak_bytes = 0;  // the most branch memory the plan kept at once
  bool graphs = false;
  bool channels_last = false;

  nlohmann::json to_json() const;
  void write(const std::filesystem::path& path) const;
};

struct GenerateRun {
  std::vector<std::filesystem::path> images;
  std::filesystem::path tensors;  // with GenerateStageOptions::tensors
  std::filesystem::path record;
};

// `started(text)` hears what is about to be generated (after loading, before sampling);
// `step(done, total)` follows the denoising steps. Throws asdm::Error for bad options (before any
// sampling).
GenerateRun generate_images(const GenerateStageOptions& options, const RunContext& context,
                            const std::function<void(const std::string&)>& started = {},
                            const std::function<void(int, int)>& step = {});

}  // namespace asdm
