#pragma once
// The cache-plan search stage (asdm cache-plan search) as a library call, torch-free: from a
// model's temporal.json, profile.json and optionally importance.json to the search's candidates
// (pruner/temporal_search.h) and DeepCache's uniform policy as baselines, written as cache plans
// (pN.plan.json, pN.arch.json for removals) and cache_search.json in one folder.
#include <filesystem>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "model/cache_plan.h"
#include "pruner/temporal_search.h"

namespace asdm {

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
};

struct CacheSearchOutput {
  std::string model;
  TemporalSearchResult result;
  std::vector<TemporalCandidate> baselines;  // predicted, named deepcache-[skip-]lL-kN
  std::vector<std::filesystem::path> plans;  // every plan written: candidates, then baselines
};

// Throws asdm::Error for unreadable inputs, a profile or temporal.json of another model, or an
// unreachable target.
CacheSearchOutput search_cache_plans(const CacheSearchOptions& options,
                                     const std::filesystem::path& out, const RunContext& context);

}  // namespace asdm
