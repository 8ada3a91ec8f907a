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

#include "bench/bench_result.h"

namespace asdm {

namespace proxy {
class AttributeClassifier;
}
struct CachePlan;

// Benchmarks `models` (name, model path) in the order given; the first is the reference. Models
// are diffusers UNet folders, pipeline folders or proxy pipelines (`proxy.json`); the pipeline and
// quality numbers need proxy pipelines. Throws asdm::Error for bad paths or options.
BenchResult run_bench(const std::vector<std::pair<std::string, std::filesystem::path>>& models,
                      const BenchOptions& options);

// --models: "name=path" or "path" (named by its folder); names made unique ("x", "x-2"). A name
// has no '/', so "runs/lr=1e-4" is a path; so is a spec that exists as written where the text after
// its first '=' does not ("lr=1e-4" a folder here). Throws asdm::Error for an empty name or path,
// or a name given twice.
std::vector<std::pair<std::string, std::filesystem::path>> parse_model_list(
    const std::vector<std::string>& specs);

// asdm bench as one call: run_bench, with sample grids in <out stem>-samples/ beside `out` (when
// `samples` and out is a file), bench.json's header stamped, written to `out` ("-": stdout).
BenchResult bench_to_file(const std::vector<std::pair<std::string, std::filesystem::path>>& models,
                          BenchOptions options, const std::filesystem::path& out, bool samples,
                          const RunContext& context);

// Quality of proxy pipelines on the same prompts and noise: with a classifier, attribute accuracy,
// proxy FID, and the proxy FID against the first model's images; always PSNR and SSIM of each
// model's images against the first model's. Shared by
// asdm bench and asdm incubate's final eval. `images_out`, when given, receives each model's
// images.
std::vector<QualityResult> compare_quality(
    const std::vector<std::filesystem::path>& pipelines, const std::vector<std::string>& prompts,
    const proxy::AttributeClassifier* classifier, const SamplerOptions& sampler, uint64_t seed,
    std::vector<std::vector<std::vector<uint8_t>>>* images_out = nullptr,
    const std::function<void(int, int)>& progress = {},
    const std::vector<const CachePlan*>& cache_plans = {});  // per pipeline; null: none

// Sixteen everyday text-to-image prompts for quality passes on real pipelines.
const std::vector<std::string>& sd_validation_prompts();

}  // namespace asdm
