#pragma once
// bench.json (asdm bench; DESIGN.md §8), torch-free: the bench's options and, per model, UNet and
// pipeline latency, memory, params and MACs, quality and its sample grid. BenchResult is the
// artifact: run_bench (bench/bench.h) fills it, the CLI stamps the header and writes it, reports/
// and asdm demo read it back.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/artifact.h"
#include "core/input_shape.h"
#include "model/sampler.h"
#include "profiler/stats.h"
#include "proxy/quality.h"

namespace asdm {

struct BenchOptions {
  std::string device = "cpu",
              dtype = "fp32";  // for the UNet timing; pipelines and quality run on the CPU in fp32
  int resolution = 0;   // image side; 0: a proxy pipeline's own, else the UNet's sample_size x 8
  int batch = 1;        // UNet forward batch
  int text_tokens = 0;  // 0: a proxy pipeline's max_tokens, else 77
  int runs = 10, warmup = 2;   // interleaved UNet rounds
  bool graphs = false;         // UNet forwards replayed from CUDA graphs (CUDA only)
  bool channels_last = false;  // every UNet in channels-last memory (UNet::set_channels_last)
  int pipeline_batch = 1;      // images per pipeline call
  int pipeline_runs = 5;       // interleaved pipeline rounds (after one warm-up round); 0 = none
  SamplerOptions sampler;      // steps, sampler, guidance for the pipeline and quality
  int quality_prompts = 100;   // 0 = no quality pass
  std::string prompts_file;    // quality prompts; "" = the world's validation set
  std::string classifier;      // attribute classifier folder ("" = PSNR/SSIM only)
  uint64_t seed = 0;
  std::filesystem::path samples_dir;  // sample grids (first 16 prompts) go here; "" = none
  // Model name -> cache_plan.json (model/cache_plan.h): that proxy pipeline samples with the plan
  // in the pipeline and quality passes (its UNet row is the plain forward: a plan acts across
  // steps). Several names may share one path.
  std::map<std::string, std::string> cache_plans;
  // A Stable Diffusion pipeline (folder, or single file with sd_config) in which every UNet model
  // runs for the pipeline and quality passes, on `device` in `dtype`; "" = the first model that is
  // a pipeline folder (model_index.json), if any. Quality is then PSNR/SSIM against the first
  // model's images (default prompts: sd_validation_prompts()).
  std::filesystem::path sd_pipeline, sd_config;
  // Stable Diffusion pipelines: a CLIP folder scores every model's quality images against their
  // prompts (CLIP score), FID Inception-v3 weights give the FID of each model's images against the
  // first model's at fid_dims (pytorch-fid's preprocessing; needs more quality prompts than
  // fid_dims). See eval/ and asdm eval for the COCO protocol.
  std::string clip, inception;
  int fid_dims = 64;
  // stage ("unet", "pipeline", "quality", "memory"), done, total.
  std::function<void(const std::string&, int, int)> progress;
};

struct PipelineTimes {
  Summary text_encoder_ms, unet_steps_ms, decoder_ms, total_ms;
};

struct ModelBench {
  std::string name, path, kind;  // kind: "proxy_pipeline" | "sd_pipeline" (run in one) | "unet"
  int64_t params = 0, macs = 0, attn_macs = 0;
  int64_t weights_bytes = 0;
  Summary unet_ms;
  double unet_speedup = 0;                // 1 - median / reference median
  std::optional<PipelineTimes> pipeline;  // proxy pipelines and models run in an SD pipeline
  double pipeline_speedup = 0;
  int64_t unet_peak_bytes = -1,
          pipeline_peak_bytes = -1;  // tensor memory above the start, -1 = not measured
  std::optional<QualityResult> quality;
  std::string samples_grid;   // file name in samples_dir
  std::string export_routes;  // how the model leaves asdm (asdm export; export/stock_form.h)
  std::string cache_plan;     // the cache plan its pipeline and quality passes used ("" = none)
};

struct BenchResult {
  static constexpr const char* kArtifact = "bench";
  static constexpr int kSchemaVersion = 1;
  static constexpr const char* kMadeBy = "make one with asdm bench";
  ArtifactHeader header;
  BenchOptions options;
  InputShape input;  // the UNet timing's input (batch: options.batch)
  std::string memory_method;
  std::vector<ModelBench> models;

  // The header and to_json(*this); from_json fills the options bench.json records (not progress).
  nlohmann::json to_json() const;
  static BenchResult from_json(const nlohmann::json& j, const std::string& source = "bench");
  static BenchResult read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
};

// bench.json's body, without the header.
nlohmann::json to_json(const BenchResult& r);

// The table asdm bench prints: per model UNet and pipeline latency with speed-ups, peak memory,
// params, MACs and quality (PSNR/SSIM against the first model).
std::string bench_table(const BenchResult& r);

// The headline asdm demo prints from bench.json: per model UNet and pipeline time with speed-ups,
// mean attribute accuracy, all-correct share, proxy FID and the proxy FID against the first
// model's samples, and what the FIDs and speed-ups are measured against.
std::string headline_table(const BenchResult& r);

}  // namespace asdm
