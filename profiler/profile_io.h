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
// median, overhead and coverage, and the CUPTI device activity where measured; the unit-share
// warning last when the units do not add up to the forward.
std::string profile_table(const ProfileReport& r);

// Whether a profile's unit times and its forward time were measured under the same load: the
// top-level units' median inclusive times over the unobserved forwards' median (near 1 on a quiet
// machine: the units cover the forward). A machine busy with other work stalls some unit in each
// forward, a different one each time, so the forward's median counts the stalls and the units'
// medians leave them out: the share falls (6% was seen under a parallel CTest). 0 for a
// sampler-loop profile (its forward is a whole loop) or one without a positive forward.
double unit_share(const ProfileReport& r);
constexpr double kMinUnitShare = 0.25, kMaxUnitShare = 1.2;  // outside: the times disagree
// "" when `share` is within [kMinUnitShare, kMaxUnitShare]; otherwise the warning that predicted
// speed-ups will be off, naming `where` ("in <where> the units add up to ...").
std::string unit_share_warning(const std::string& where, double share, double forward_ms);

// Throws asdm::Error naming the file when it is not a complete profile.json.
ProfileLatency read_profile_latency(const std::filesystem::path& path);

}  // namespace asdm
