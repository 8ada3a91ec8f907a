#pragma once
// The proxy world's run records (DESIGN.md §8): train_result.json beside a trained attribute
// classifier (asdm proxy train-classifier) and proxy_eval.json (asdm proxy eval). Write-side
// structs: nothing reads them back but people and other tools.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "proxy/metrics.h"

namespace asdm::proxy {

struct ClassifierRecord {
  static constexpr const char* kArtifact = "classifier";
  static constexpr int kSchemaVersion = 1;
  ArtifactHeader header;
  std::string world;
  int steps = 0;
  uint64_t seed = 0;
  double holdout_accuracy = 0;  // every attribute right
  int holdout_images = 0;

  nlohmann::json to_json() const;
  void write(const std::filesystem::path& path) const;
};

struct EvalRecord {
  static constexpr const char* kArtifact = "proxy_eval";
  static constexpr int kSchemaVersion = 1;
  ArtifactHeader header;
  std::string model, classifier, prompts;  // prompts: the file, or how they were made
  std::vector<std::string> removed_units;
  EvalOptions options;  // sampler and seed
  EvalResult result;
  // With a cache plan (model/cache_plan.h): its file, the unit evaluations it replaced by kept
  // branches and the most memory those branches held at once.
  std::string cache_plan;
  int64_t cache_reused = 0, cache_peak_bytes = 0;

  nlohmann::json to_json() const;
  void write(const std::filesystem::path& path) const;
};

// asdm proxy train-classifier as one call: trains the attribute classifier of `world`, saves it
// in `out` with its train_result.json, and returns the record (held-out accuracy on 1000 images).
ClassifierRecord train_classifier(const std::string& world, const std::filesystem::path& out,
                                  int steps, uint64_t seed, const RunContext& context,
                                  const std::function<void(int, int, double)>& progress = {});

}  // namespace asdm::proxy
