#pragma once
// The inspect stage (asdm inspect) as a library call, torch-free: a UNet's units with params and
// MACs from its config alone (no weights read or allocated), and inspect.json (DESIGN.md §8).
#include <filesystem>
#include <set>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/artifact.h"
#include "profiler/cost_model.h"

namespace asdm {

struct InspectOptions {
  std::string model;   // diffusers UNet or pipeline folder, config.json or asdm_arch.json
  int resolution = 0;  // image side in pixels; 0: sample_size x vae_scale
  int vae_scale = 8;
  int batch = 1;
  int text_tokens = 77;
};

struct InspectArtifact {
  static constexpr const char* kArtifact = "inspect";
  static constexpr int kSchemaVersion = 1;
  static constexpr const char* kMadeBy = "make one with asdm inspect --json";
  ArtifactHeader header;
  std::string model;
  int vae_scale = 8;  // the input (image side and latent sides) is cost.input
  std::string macs_rule;
  std::set<std::string> removed_units;
  CostReport cost;

  nlohmann::json to_json() const;
  static InspectArtifact from_json(const nlohmann::json& j, const std::string& source = "inspect");
  static InspectArtifact read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
};

// Throws asdm::Error for a model that cannot be found or a resolution the VAE factor does not
// divide.
InspectArtifact inspect_model(const InspectOptions& options, const RunContext& context);

// The table asdm inspect prints: one line per unit (nested units indented), then the totals.
std::string inspect_table(const InspectArtifact& a);

// The inverse of to_json(CostReport).
CostReport cost_report_from_json(const nlohmann::json& j);

}  // namespace asdm
