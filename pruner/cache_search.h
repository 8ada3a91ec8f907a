#pragma once
// The cache-plan search stage (asdm cache-plan search) as a library call, torch-free: from a
// model's temporal.json, profile.json and optionally importance.json to the search's candidates
// (pruner/temporal_search.h) and DeepCache's uniform policy as baselines, written as cache plans
// (pN.plan.json, pN.arch.json for removals) and cache_search.json in one folder.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "model/cache_plan.h"
#include "pruner/plan_refine.h"
#include "pruner/temporal_search.h"

namespace asdm {

struct TemporalSettings;

// Grouped scores of whole plans (analysis/plan_scoring.h, made by the caller: it runs models).
struct PlanScoring {
  std::string metric, definition;
  std::function<std::vector<double>(const std::vector<CachePlan>& plans)> losses;
  // What a score depends on besides the plan (a JSON text: metric, model, prompts and their
  // SHA-256, the run's settings). With it, scores are kept in <out>/grouped_scores.json as they
  // are computed, and a later search into the same folder with the same identity takes them from
  // there, so a search killed during its refinement continues where it stopped (the search itself
  // is deterministic: it asks for the same plans again). Empty: not kept.
  std::string identity;
  // Whether the losses add up over reuses like epsilon's error, as the refinement's interaction
  // prior (PlanRefineOptions::interaction_prior) assumes; off, moves go in additive order.
  bool additive = true;
};
// Makes the scoring for the model searched, with temporal.json's run settings.
using PlanScoringFactory =
    std::function<PlanScoring(const std::string& model, const TemporalSettings& settings)>;

struct CacheSearchOptions {
  std::string temporal, profile;  // temporal.json, profile.json (at the sampling batch)
  std::string importance;         // importance.json: also remove units ("" : reuse only)
  std::string metric = "tier1";
  std::string model;  // "": the one profile.json names
  TemporalSearchOptions search;
  // DeepCache's uniform policy at these intervals, on the units at resolution level >=
  // baseline_level: unit reuse (priced by the search's model) and the skip-branch form (time
  // predicted from the profile, loss not predicted). 0: none.
  std::vector<int> baseline_intervals{2, 3, 5};
  int baseline_level = 1;
  // The skip-branch form's layers kept inside the blocks at baseline_level - 1
  // (CachePlan::skip_layers; -1: whole blocks). Level 1 with 1 layer is DeepCache's default
  // branch (cache_branch_id 0).
  int baseline_skip_layers = 1;
  // With a scoring factory: every candidate and baseline gets its grouped loss, and the first
  // `refine_candidates` candidates are refined (pruner/plan_refine.h); a refined plan that differs
  // is written beside its start as pNr.
  int refine_candidates = 1;
  // Also refine each unit-reuse baseline at its own predicted time; a plan that improved on it is
  // a candidate named like it plus "r" (deepcache-l1-k3r), refined_from naming the baseline.
  bool refine_baselines = false;
  PlanRefineOptions refine;
};

struct PlanRefinement {
  std::string from, name;  // the candidate refined; the refined one ("" when no move helped)
  std::string metric;
  double start_loss = 0, loss = 0;
  int evaluations = 0;
  std::vector<PlanMove> moves;
};

// The grouped scores kept for a search's folder (PlanScoring::identity).
inline constexpr const char* kGroupedScoresFile = "grouped_scores.json";

struct CacheSearchOutput {
  std::string model;
  TemporalSearchResult result;
  std::vector<TemporalCandidate> baselines;  // predicted, named deepcache-[skip-]lL-kN
  std::vector<std::filesystem::path> plans;  // every plan written: candidates, then baselines
  std::vector<PlanRefinement> refinements;
  int scores_computed = 0, scores_kept = 0;  // grouped scores: computed now, taken from the file
};

// Throws asdm::Error for unreadable inputs, a profile or temporal.json of another model, or an
// unreachable target. `note` hears the scoring's progress.
CacheSearchOutput search_cache_plans(const CacheSearchOptions& options,
                                     const std::filesystem::path& out, const RunContext& context,
                                     const PlanScoringFactory& scoring = {},
                                     const std::function<void(const std::string&)>& note = {});

}  // namespace asdm
