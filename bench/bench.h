#pragma once
// asdm bench: teacher against students end to end. Per model: UNet latency, whole-pipeline latency
// split into text encoder, UNet x steps and decoder, peak memory, params and MACs, and quality on
// the proxy world (attribute accuracy, proxy FID, PSNR/SSIM against the first model's samples from
// the same noise). Models are timed in interleaved rounds (A B A B ...), so speed-ups are ratios
// of medians from one run, robust to a machine that drifts.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/sampler.h"
#include "profiler/stats.h"

namespace asdm {

namespace proxy {
class AttributeClassifier;
}

struct BenchOptions {
  std::string device = "cpu", dtype = "fp32";  // for the UNet timing; pipelines and quality run on the CPU in fp32
  int resolution = 0;                          // image side; 0: a proxy pipeline's own, else the UNet's sample_size x 8
  int batch = 1;                               // UNet forward batch
  int text_tokens = 0;                         // 0: a proxy pipeline's max_tokens, else 77
  int runs = 10, warmup = 2;                   // interleaved UNet rounds
  int pipeline_batch = 1;                      // images per pipeline call
  int pipeline_runs = 5;                       // interleaved pipeline rounds (after one warm-up round); 0 = none
  SamplerOptions sampler;                      // steps, sampler, guidance for the pipeline and quality
  int quality_prompts = 100;                   // 0 = no quality pass
  std::string prompts_file;                    // quality prompts; "" = the world's validation set
  std::string classifier;                      // attribute classifier folder ("" = PSNR/SSIM only)
  uint64_t seed = 0;
  std::filesystem::path samples_dir;           // sample grids (first 16 prompts) go here; "" = none
  // A Stable Diffusion pipeline (folder, or single file with sd_config) in which every UNet model
  // runs for the pipeline and quality passes, on `device` in `dtype`; "" = the first model that is
  // a pipeline folder (model_index.json), if any. Quality is then PSNR/SSIM against the first
  // model's images (default prompts: sd_validation_prompts()).
  std::filesystem::path sd_pipeline, sd_config;
  // stage ("unet", "pipeline", "quality", "memory"), done, total.
  std::function<void(const std::string&, int, int)> progress;
};

struct PipelineTimes {
  Summary text_encoder_ms, unet_steps_ms, decoder_ms, total_ms;
};

struct QualityResult {
  int samples = 0;
  std::map<std::string, double> accuracy;  // per attribute (with a classifier)
  double mean_accuracy = 0, all_correct = 0, fid = 0;
  bool classified = false;
  double psnr_db = 0, ssim = 0;  // mean over samples, against the reference's images
  double seconds = 0;            // sampling and scoring
};

struct ModelBench {
  std::string name, path, kind;  // kind: "proxy_pipeline" | "sd_pipeline" (run in one) | "unet"
  int64_t params = 0, macs = 0, attn_macs = 0;
  int64_t weights_bytes = 0;
  Summary unet_ms;
  double unet_speedup = 0;                  // 1 - median / reference median
  std::optional<PipelineTimes> pipeline;    // proxy pipelines and models run in an SD pipeline
  double pipeline_speedup = 0;
  int64_t unet_peak_bytes = -1, pipeline_peak_bytes = -1;  // tensor memory above the start, -1 = not measured
  std::optional<QualityResult> quality;
  std::string samples_grid;  // file name in samples_dir
};

struct BenchResult {
  BenchOptions options;
  int resolution = 0, latent = 0, text_tokens = 0;
  std::string memory_method;
  std::vector<ModelBench> models;
};

// Benchmarks `models` (name, model path) in the order given; the first is the reference. Models
// are diffusers UNet folders, pipeline folders or proxy pipelines (`proxy.json`); the pipeline and
// quality numbers need proxy pipelines. Throws asdm::Error for bad paths or options.
BenchResult run_bench(const std::vector<std::pair<std::string, std::filesystem::path>>& models, const BenchOptions& options);

// bench.json's body (the caller adds the artifact header).
nlohmann::json to_json(const BenchResult& r);

// Quality of proxy pipelines on the same prompts and noise: with a classifier, attribute accuracy
// and proxy FID; always PSNR and SSIM of each model's images against the first model's. Shared by
// asdm bench and asdm incubate's final eval. `images_out`, when given, receives each model's images.
std::vector<QualityResult> compare_quality(const std::vector<std::filesystem::path>& pipelines,
                                           const std::vector<std::string>& prompts,
                                           const proxy::AttributeClassifier* classifier, const SamplerOptions& sampler,
                                           uint64_t seed, std::vector<std::vector<std::vector<uint8_t>>>* images_out = nullptr,
                                           const std::function<void(int, int)>& progress = {});
nlohmann::json to_json(const QualityResult& q);

// Sixteen everyday text-to-image prompts for quality passes on real pipelines.
const std::vector<std::string>& sd_validation_prompts();

}  // namespace asdm
