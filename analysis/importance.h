#pragma once
// importance.json (asdm ablate; DESIGN.md §8) as a struct, torch-free: the run's settings, the
// teacher pass, every scored unit or group (tier 1: nMSE and cosine of epsilon at the teacher's
// states; tier 2: 1 - SSIM, PSNR and quality of final samples; latency saved), the rankings,
// rank correlations and group interactions. Numbers the file holds as null (not finite) are NaN
// here. analysis/ablation.cpp writes the document; readers (the search, the demo, the tables,
// reports) read it through this struct.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "analysis/importance_io.h"
#include "analysis/statistics.h"
#include "core/artifact.h"

namespace asdm {

struct ImportanceSettings {
  std::string subject;
  int prompts = 0;
  std::string prompts_sha256;
  std::string tier;  // 1 | 2 | both
  int timesteps = 0;
  std::string sampler, prediction, spacing;
  int steps = 0, steps_offset = 0;
  double guidance = 0;
  uint64_t seed = 0;
  int batch = 0, bootstrap = 0, top = 0;
  std::string rank_from, profile;
  std::vector<int64_t> sample_shape;
  std::string output_space;
  std::vector<std::string> plan;  // every entry's id, in order
  std::string cache_plan;         // the cache plan the runs sampled with ("": none)
  bool operator==(const ImportanceSettings&) const = default;
};

// The fields in which two runs' settings differ, as "name: a vs b" (values shortened), for the
// messages of resume and merge; "" when they are the same.
std::string settings_differences(const ImportanceSettings& a, const ImportanceSettings& b);

struct TimestepScore {
  int step = 0;
  double t = 0, nmse = 0, cosine = 0;
};

struct Tier1Result {
  Estimate nmse, cosine;
  std::vector<TimestepScore> per_timestep;
  std::vector<double> per_prompt_nmse, per_prompt_cosine;
};

struct Tier2Result {
  Estimate ssim_loss, ssim, psnr_db, nmse;
  std::vector<double> per_prompt_ssim, per_prompt_psnr_db;
  std::optional<std::map<std::string, double>> quality, quality_delta;
};

struct GroupInteraction {
  double group = 0, sum_of_units = 0, group_minus_sum = 0;
};

struct ImportanceResult {
  std::string id, kind;  // kind: a unit kind, or "group"
  std::vector<std::string> units;
  std::optional<double> latency_saved_ms;
  std::optional<Tier1Result> tier1;
  std::optional<Tier2Result> tier2;
  std::optional<double> tier1_per_ms;                   // NaN when the file holds null
  std::map<std::string, double> seconds;                // tier1, tier2
  std::map<std::string, GroupInteraction> interaction;  // groups: tier1_nmse, tier2_ssim_loss
};

// importance.json's encodings, shared by its writer (analysis/ablation.cpp) and the struct: a
// number that is not finite is null; an estimate is {"mean", "ci95": [low, high], "n"}.
nlohmann::json finite_or_null(double v);
nlohmann::json to_json(const Estimate& e);

struct ImportanceArtifact {
  static constexpr const char* kArtifact = "importance";
  static constexpr int kSchemaVersion = kImportanceSchemaVersion;
  static constexpr const char* kMadeBy = "make one with asdm ablate";
  ArtifactHeader header;
  struct Device {
    std::string kind, name;
    int threads = 0;
  };
  std::vector<Device> shard_devices;  // merged shards run on different devices

  ImportanceSettings settings;
  int shard_index = 0, shard_count = 1;
  std::map<std::string, std::string> definitions;
  struct Latency {
    std::string profile, backend, device;
    double unobserved_forward_ms = 0;
  };
  std::optional<Latency> latency;
  struct Teacher {
    std::string fingerprint;
    std::vector<int> kept_steps;
    std::vector<double> kept_timesteps;
    double seconds = 0;
    std::optional<std::map<std::string, double>> quality;
  } teacher;
  std::vector<ImportanceResult> results;
  bool complete = false;
  std::map<std::string, std::vector<std::string>> ranking;  // tier1, tier2, tier1_per_ms
  struct Correlation {
    double spearman = 0;  // NaN when undefined
    int n = 0;
  };
  std::map<std::string, Correlation> rank_correlation;

  nlohmann::json to_json() const;
  static ImportanceArtifact from_json(const nlohmann::json& j,
                                      const std::string& source = "importance");
  static ImportanceArtifact read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
};

}  // namespace asdm
