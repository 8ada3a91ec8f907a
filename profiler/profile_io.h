#pragma once
// Reading profile.json (asdm profile) back: the per-unit median times later stages need (ablation's
// latency saved, the pruner's latency predictor). Torch-free.
#include <filesystem>
#include <map>
#include <string>

namespace asdm {

struct UnitLatency {
  double inclusive_ms = 0, exclusive_ms = 0;  // medians
  std::string parent;                         // a TransformerBlock's Transformer2D; "" otherwise
};

struct ProfileLatency {
  std::string path, backend, device, model;
  double forward_ms = 0;  // median of the unobserved forwards
  int resolution = 0, batch = 1, text_tokens = 77;  // the profiled input
  bool sampler_loop = false;                       // forward_ms timed whole sampler loops
  std::map<std::string, UnitLatency> units;
};

// Throws asdm::Error naming the file when it is not a complete profile.json.
ProfileLatency read_profile_latency(const std::filesystem::path& path);

}  // namespace asdm
