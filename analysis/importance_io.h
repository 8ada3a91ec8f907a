#pragma once
// Reading importance.json (asdm ablate) back, torch-free: per-unit scores for the pruner and for
// --rank-from.
#include <filesystem>
#include <map>
#include <string>

namespace asdm {

struct ImportanceScores {
  std::string path, subject;
  std::string metric;                      // "tier1" (mean normalised MSE) or "tier2" (mean 1 - SSIM)
  std::map<std::string, double> units;     // single units only; groups are left out
};

// Throws asdm::Error naming the file when it is not an importance.json, is unfinished, or has no
// scores of that metric.
ImportanceScores read_importance_scores(const std::filesystem::path& path, const std::string& metric = "tier1");

}  // namespace asdm
