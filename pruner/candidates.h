#pragma once
// candidates.json (asdm search; DESIGN.md §8), torch-free: the search's candidates along the Pareto
// front, each with its ArchSpec, predicted (and, with --measure, measured) latency and predicted
// quality loss; the replacement blocks' measured costs, GRI scores, the refinement and the
// predictor's validation on random removal sets. Written by pruner/search_candidates.h, read by
// asdm build, asdm demo and reports/.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/artifact.h"
#include "core/input_shape.h"
#include "model/arch_spec.h"
#include "profiler/stats.h"

namespace asdm {

struct CandidateEntry {
  std::string name;                  // c1, c2, ... in order of predicted speed-up
  std::vector<std::string> removed;  // forward order
  std::vector<std::string> gri;      // attention units made GRI by the search
  double predicted_ms = 0, predicted_speedup = 0, predicted_loss = 0;
  double replacement_ms = 0;  // the replacement blocks' measured time difference, in predicted_ms
  bool refined = false;       // the refinement's improved set
  int64_t params = 0, macs = 0;
  ArchSpec arch;
  // --measure: this run's interleaved forwards; the error of the prediction scaled to this run's
  // teacher time (predicted / measured - 1).
  std::optional<Summary> measured_ms;
  std::optional<double> measured_speedup, prediction_error;
};

struct ReplacementCostEntry {
  std::string unit, kind;  // kind: clme | gri
  std::string key_name;    // "experts" (clme) or "options" (gri)
  std::string key;         // the experts, comma-separated, or "window pool"
  Summary plain_ms, replaced_ms;
  double extra_ms = 0;
};

struct GriScoreEntry {
  std::string unit;
  int window = 0, pool = 0;
  double saved_ms = 0, score = 0;
  bool searched = false;  // measured faster than full self-attention, so a choice in the search
};

struct RefinementSwap {
  std::string put_back, removed;
  double grouped_loss = 0;
};

struct Refinement {
  std::string metric;
  double start_grouped_loss = 0, grouped_loss = 0;
  int evaluations = 0;
  std::vector<std::string> start, removed;
  std::vector<RefinementSwap> swaps;
};

struct ValidationSet {
  std::vector<std::string> removed;
  double predicted_ms = 0;  // scaled to this run's teacher time
  Summary measured_ms;
  double error = 0;  // predicted / measured - 1
};

struct Validation {
  std::vector<ValidationSet> sets;
  double mean_abs_error = 0, max_abs_error = 0;
};

struct CandidateSet {
  static constexpr const char* kArtifact = "candidates";
  static constexpr int kSchemaVersion = 1;
  static constexpr const char* kMadeBy = "make one with asdm search";
  ArtifactHeader header;

  struct Teacher {
    std::string model, profile, profile_backend, profile_device;
    double forward_ms = 0;  // the profile's forward median
    InputShape input;       // the profile's input
    int64_t params = 0, macs = 0;
    std::optional<Summary> measured_ms;  // --measure
  } teacher;
  struct Importance {
    std::string file, metric, subject;
  } importance;
  struct Options {
    double target_speedup = 0, candidate_step = 0;
    int max_candidates = 0, latency_bins = 0;
    std::vector<std::string> keep, remove;
    bool keep_cross_attention = true;
  } options;
  std::string predictor, predicted_loss;  // how latency and loss were predicted, in words
  std::vector<std::string> replacements;  // --allow: clme, gri
  std::optional<std::vector<ReplacementCostEntry>> replacement_costs;  // with replacements
  std::optional<std::vector<GriScoreEntry>> gri_scores;                // GRI scored in tier 1
  int searched_units = 0;
  double best_reachable_speedup = 0;
  std::vector<CandidateEntry> candidates;
  std::vector<std::pair<double, double>> front;  // (speedup, loss), ascending speedup
  std::optional<Validation> validation;          // --validate
  std::optional<Refinement> refinement;          // --refine-prompts / --refine-embeddings

  nlohmann::json to_json() const;
  static CandidateSet from_json(const nlohmann::json& j, const std::string& source = "candidates");
  static CandidateSet read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;

  // The candidate named `pick` ("c3") or at 1-based position `pick` ("3"); asdm::Error naming the
  // known names otherwise.
  const CandidateEntry& pick(const std::string& pick, const std::string& source) const;
};

// The candidate to build from a measured set: the least predicted loss among those whose measured
// speed-up clears `target` by `margin` (a machine's run-to-run spread: a candidate measured just at
// the target may bench below it); else the fastest measured one that meets the target; else the
// first, with `warning` saying so. asdm::Error for a set without candidates.
const CandidateEntry& pick_measured(const CandidateSet& set, double target, double margin,
                                    std::string* warning);

}  // namespace asdm
