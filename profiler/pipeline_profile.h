#pragma once
// Whole-pipeline timing (issue 9 item 6): text encoder, UNet x steps and VAE decoder of a real
// Stable Diffusion pipeline, per run, with their shares. Stage boundaries come from the pipeline's
// StageHook; on CUDA each boundary synchronises the device so that a stage's time is its own.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/artifact.h"
#include "profiler/stats.h"
#include "sd/sd_pipeline.h"

namespace asdm {

struct PipelineProfileOptions {
  GenerateOptions generate;  // prompts (batch), steps, guidance, sampler, size, seed
  int runs = 3;
  int warmup = 1;
  std::function<void(int done, int total)> progress;  // after each run (warm-up included)
};

struct PipelineProfile {
  std::string device, dtype, sampler;
  int height = 0, width = 0, batch = 0, steps = 0, unet_calls = 0;
  double guidance = 1;
  bool graphs = false;  // each denoising step replayed from a CUDA graph (PNDM: its UNet call)
  bool unet_channels_last = false;  // the UNet in channels-last memory (UNet::set_channels_last)
  // Per run: the whole generate() call, and inside it each stage's total.
  Summary total_ms, text_encoder_ms, unet_ms, vae_ms;
  Summary unet_call_ms;  // every UNet call of every timed run
  Summary other_ms;      // total minus the stages: sampler arithmetic, noise, copies
};

// One generate() call timed by stage, the device synchronised at every stage boundary on CUDA.
struct PipelineRunTimes {
  double total_ms = 0, text_encoder_ms = 0, unet_ms = 0, vae_ms = 0;
  std::vector<double> unet_call_ms;
};
PipelineRunTimes time_pipeline_run(const SdPipeline& pipeline, const GenerateOptions& options);

// Throws asdm::Error for bad options (before any timed work).
PipelineProfile profile_pipeline(const SdPipeline& pipeline, const PipelineProfileOptions& options);
nlohmann::json to_json(const PipelineProfile& p);
PipelineProfile pipeline_profile_from_json(const nlohmann::json& j);

// pipeline_profile.json (asdm profile --pipeline): the header, the pipeline, its prompts and the
// profile.
struct PipelineProfileArtifact {
  static constexpr const char* kArtifact = "pipeline_profile";
  static constexpr int kSchemaVersion = 1;
  static constexpr const char* kMadeBy = "make one with asdm profile --pipeline";
  ArtifactHeader header;
  std::string model;
  std::vector<std::string> prompts;
  PipelineProfile profile;

  nlohmann::json to_json() const;
  static PipelineProfileArtifact from_json(const nlohmann::json& j,
                                           const std::string& source = "pipeline_profile");
  static PipelineProfileArtifact read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
};

// The table asdm profile --pipeline prints: each stage's median, p10, p90 and share, then the run.
std::string pipeline_profile_table(const PipelineProfileArtifact& a, int warmup);

}  // namespace asdm
