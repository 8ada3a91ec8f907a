#pragma once
// temporal.json (asdm ablate --temporal, issue 23) as a struct, torch-free: how much each unit's
// branch output changes from one model call of a sampling run to the next along the teacher's own
// trajectories, and what reusing it costs. analysis/temporal.cpp writes it; the reuse search
// (pruner/temporal_search.h), the tables and reports read it through this struct. Numbers the file
// holds as null are NaN here.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "analysis/statistics.h"
#include "core/artifact.h"

namespace asdm {

struct TemporalSettings {
  std::string subject;
  int prompts = 0;
  std::string prompts_sha256;
  std::string tier;  // 1 | 2 | both
  std::string sampler, prediction, spacing;
  int steps = 0, steps_offset = 0, calls = 0;
  double guidance = 0;
  uint64_t seed = 0;
  int batch = 0, bootstrap = 0;
  int max_gap = 0;             // relative change measured for gaps 1..max_gap calls
  std::vector<int> intervals;  // tier 2: DeepCache's uniform policy per unit at these intervals
  std::string profile;
  std::vector<int64_t> sample_shape;
  std::string output_space;
  std::vector<std::string> units;
  bool operator==(const TemporalSettings&) const = default;
};

// Tier 2 of one unit at one interval: the model samples with that unit alone computed every
// `interval`-th call and reused between; final samples against the teacher's.
struct TemporalUniform {
  int interval = 0;
  int reusing_calls = 0;
  Estimate ssim_loss, psnr_db;
  std::optional<std::map<std::string, double>> quality, quality_delta;
  double seconds = 0;
};

struct TemporalUnit {
  std::string id, kind;
  std::optional<double> latency_ms;  // the unit's inclusive time per forward (profile)
  // Tier 1. change: per prompt, the mean over calls s >= 1 of |b_s - b_{s-1}| / |b_s| (b: the
  // unit's branch output, output - shortcut), with a bootstrap interval over prompts.
  Estimate change;
  // change_sq[g-1][s]: mean over prompts of |b_s - b_{s-g}|^2 / |b_s|^2 (NaN for s < g).
  std::vector<std::vector<double>> change_sq;
  // reuse_nmse[s]: mean over prompts of the normalised MSE of epsilon at the teacher's state x_s
  // with the unit reusing b_{s-1}, against the teacher's epsilon (NaN at call 0).
  std::vector<double> reuse_nmse;
  Estimate reuse_cost;  // per prompt the mean of that over calls s >= 1, bootstrap interval
  std::vector<double> per_prompt_change, per_prompt_reuse;  // NaN for prompts not done yet
  std::vector<TemporalUniform> uniform;                     // tier 2, by interval
  // Reuse cost per ms saved: reuse_cost.mean / latency_ms (low: cheap to reuse).
  std::optional<double> cost_per_ms() const;
  // The one-step cost of reusing at call s a branch computed `gap` calls before: reuse_nmse[s]
  // scaled by how much more the branch changed over that gap (change_sq[gap-1][s] /
  // change_sq[0][s]; to first order, epsilon's error grows with the squared size of the stale
  // difference). NaN where not measured (s < gap, gap > max_gap, call 0).
  double reuse_cost_at(int call, int gap) const;
};

struct TemporalArtifact {
  static constexpr const char* kArtifact = "temporal";
  static constexpr int kSchemaVersion = 1;
  static constexpr const char* kMadeBy = "make one with asdm ablate --temporal";
  ArtifactHeader header;
  TemporalSettings settings;
  std::map<std::string, std::string> definitions;
  struct Teacher {
    std::vector<double> timesteps;  // per model call
    std::string fingerprint;        // SHA-256 of the teacher's final samples
    std::optional<std::map<std::string, double>> quality;
    double seconds = 0;
  } teacher;
  struct Latency {
    std::string profile, device;
    double forward_ms = 0;  // the model's forward (median, unobserved)
  };
  std::optional<Latency> latency;
  int prompts_done = 0;  // tier 1 covers the first prompts_done prompts (all when complete)
  std::vector<TemporalUnit> units;
  bool complete = false;

  const TemporalUnit& unit(const std::string& id) const;  // asdm::Error naming the known ones
  nlohmann::json to_json() const;
  static TemporalArtifact from_json(const nlohmann::json& j,
                                    const std::string& source = "temporal");
  static TemporalArtifact read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
};

// The fields in which two runs' settings differ ("name: a vs b"), "" when the same.
std::string temporal_settings_differences(const TemporalSettings& a, const TemporalSettings& b);

// The table asdm ablate --temporal prints: units by reuse cost per ms saved (cheapest first; by
// reuse cost without a profile), with the relative change, the one-step reuse cost, and tier 2's
// 1 - SSIM and accuracy change per interval. max_rows 0: all.
std::string temporal_table(const TemporalArtifact& doc, int max_rows);

}  // namespace asdm
