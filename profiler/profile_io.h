#pragma once
// profile.json (asdm profile; DESIGN.md §8) as a typed artifact, and the per-unit median times
// later stages read from it (ablation's latency saved, the pruner's latency predictor). Torch-free.
#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/artifact.h"
#include "profiler/profile.h"

namespace asdm {

struct UnitLatency {
  double inclusive_ms = 0, exclusive_ms = 0;  // medians
  std::string parent;                         // a TransformerBlock's Transformer2D; "" otherwise
};

struct ProfileLatency {
  std::string path, backend, device, model;
  double forward_ms = 0;       // median of the unobserved forwards
  InputShape input;            // the profiled input
  bool sampler_loop = false;   // forward_ms timed whole sampler loops
  bool graphs = false;         // forwards replayed from CUDA graphs (asdm profile --graphs)
  bool channels_last = false;  // the UNet ran in channels-last memory (--channels-last)
  std::map<std::string, UnitLatency> units;
};

// profile.json: the header, the model profiled and its report (profiler/profile.h). The report's
// Chrome trace (`trace`) is not part of it.
struct ProfileArtifact {
  static constexpr const char* kArtifact = "profile";
  static constexpr int kSchemaVersion = 1;
  static constexpr const char* kMadeBy = "make one with asdm profile";
  ArtifactHeader header;
  std::string model;
  ProfileReport report;

  nlohmann::json to_json() const;
  static ProfileArtifact from_json(const nlohmann::json& j, const std::string& source = "profile");
  static ProfileArtifact read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
};

// The report's fields as profile.json holds them (the inverse of to_json(ProfileReport)).
ProfileReport profile_report_from_json(const nlohmann::json& j);

// The table asdm profile prints: units by self time (share, ms per GMAC), then the forward's
// median, overhead and coverage, and the CUPTI device activity where measured.
std::string profile_table(const ProfileReport& r);

// Throws asdm::Error naming the file when it is not a complete profile.json.
ProfileLatency read_profile_latency(const std::filesystem::path& path);

}  // namespace asdm
