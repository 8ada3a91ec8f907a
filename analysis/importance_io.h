#pragma once
// Reading importance.json (asdm ablate) back, torch-free: per-unit scores for the pruner and for
// --rank-from.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace asdm {

// importance.json's schema version (asdm ablate writes it; readers check it).
constexpr int kImportanceSchemaVersion = 1;

// The run settings that make a score reproducible on the same scale (asdm search re-scores
// grouped removal sets and GRI variants with them).
struct ImportanceRunSettings {
  int timesteps = 0;  // K states per trajectory
  std::string sampler;
  int steps = 0;
  double guidance = 0;
  uint64_t seed = 0;
  int batch = 0;
  int prompts = 0;  // count
  std::string prompts_sha256;
  int latent_side = 0;  // the sampled latent's height (importance.json's sample_shape[1])
};

struct ImportanceScores {
  std::string path, subject;
  ImportanceRunSettings settings;
  // "tier1" (mean normalised MSE), "tier2" (mean 1 - SSIM) or "clip" (tier 2's CLIP-score drop
  // from the teacher's, 0 when the score rose)
  std::string metric;
  std::map<std::string, double> units;  // single units only; groups are left out
};

// Whether `path` is an importance.json whose run finished (false when absent, unfinished or
// something else).
bool importance_complete(const std::filesystem::path& path);

// Throws asdm::Error naming the file when it is not an importance.json, is unfinished, or has no
// scores of that metric.
ImportanceScores read_importance_scores(const std::filesystem::path& path,
                                        const std::string& metric = "tier1");

}  // namespace asdm
