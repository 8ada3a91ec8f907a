#pragma once
// The search over both kinds of redundancy (issue 23 item 3), torch-free: which units to remove
// and which (unit, model call) pairs to reuse, so that the predicted loss is least while the whole
// sampling run's predicted time is at most (1 - target) x the teacher's.
//
// Time: a run is `calls` forwards; a removed unit saves its inclusive time (the profile's) at
// every call, a reuse saves it at that call (the unit's shortcut stays: a 1x1 conv at most).
// Loss, on one scale, the sum over the run's calls of epsilon's normalised MSE against the
// teacher's: a removal costs calls x its tier-1 score (importance.json: the mean nMSE over kept
// states), a reuse at call s of a branch computed g calls before costs temporal.json's one-step
// cost there (TemporalUnit::reuse_cost_at). Scores add up.
//
// Exact for those scores: per unit, the cheapest set of j reuse calls for every j (a dynamic
// programme over calls with the staleness g <= max_gap as state: a unit is computed again at least
// every max_gap + 1 calls); across units a multiple-choice knapsack over time saved; with
// removals, the removal sets along the removal search's front (pruner/search.h, its constraints
// included; at most 64 of its points) each completed by the reuse knapsack, the best kept.
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/cache_plan.h"
#include "pruner/search.h"

namespace asdm {

struct TemporalArtifact;

struct TemporalSearchOptions {
  double target_speedup = 0.3;  // whole sampling run
  int max_candidates = 6;
  double candidate_step = 0.05;
  int max_gap = 0;  // calls a branch may be reused for before it is computed again; 0: as measured
  std::vector<std::string> keep;  // never reused (nor removed)
  bool removals = false;          // also remove units (needs removal scores)
  SearchOptions removal;          // the removal search's constraints and resolution
  int bins = 4000;                // time resolution: the teacher's run / bins
};

struct TemporalCandidate {
  std::string name;
  std::vector<std::string> removed;             // forward order
  std::vector<std::vector<std::string>> reuse;  // per call, forward order
  int reuses = 0;                               // (unit, call) pairs
  double predicted_ms = 0;                      // one sampling run
  double predicted_speedup = 0;                 // 1 - predicted / teacher
  double removal_loss = 0, reuse_loss = 0;      // on the scale above
  double predicted_loss() const { return removal_loss + reuse_loss; }
  double grouped_loss = std::numeric_limits<double>::quiet_NaN();  // scored whole (refinement)
  std::string refined_from;                                        // a refined plan's start
};

struct TemporalSearchResult {
  int calls = 0;
  double teacher_ms = 0;                      // one sampling run: calls x the teacher's forward
  double best_reachable_speedup = 0;          // every allowed unit reused at every allowed call
  std::vector<TemporalCandidate> candidates;  // by speed-up, the first meets the target
};

// Throws asdm::Error for units the profile or temporal.json lacks, unknown ids in keep, removals
// without scores, or an unreachable target (the message says the best reachable speed-up).
TemporalSearchResult temporal_search(const UNetLayout& layout, const LatencyModel& latency,
                                     const TemporalArtifact& temporal,
                                     const std::map<std::string, double>& removal_scores,
                                     const TemporalSearchOptions& options);

// Per unit, what the search chooses from: the least-loss calls to reuse it at for every number of
// reuses j (the dynamic programme above; loss[j] infinite where j reuses are impossible), and the
// time one reuse saves. For the units temporal.json has, in its order, less `keep`; max_gap 0:
// temporal.json's.
struct ReuseMenu {
  std::string unit;
  double ms = 0;                           // saved per reuse
  std::vector<double> loss;                // [j], j = 0..calls-1
  std::vector<std::vector<int>> calls;     // [j]: the reused calls, ascending
  std::vector<std::vector<double>> costs;  // [j]: each reused call's one-step cost, as calls[j]
  // [call][gap - 1], gap 1..max_gap: the one-step cost of a reuse at that call of a branch gap
  // calls old (infinite where not measured); for patterns other than the menu's.
  std::vector<std::vector<double>> cost_at;
  int max_reuses() const;  // the largest j with a finite loss
};
std::vector<ReuseMenu> reuse_menus(const UNetLayout& layout, const LatencyModel& latency,
                                   const TemporalArtifact& temporal,
                                   const std::vector<std::string>& keep, int max_gap);

// The predicted time and loss of any reuse plan on the same scales (DeepCache's uniform policies
// as baselines next to the candidates). Gaps beyond temporal.json's max_gap are extrapolated from
// the longest measured one by (gap / max_gap)^2.
TemporalCandidate predict_plan(const UNetLayout& layout, const LatencyModel& latency,
                               const TemporalArtifact& temporal,
                               const std::vector<std::vector<std::string>>& reuse);

// A candidate as the files it becomes: the model it is for (the teacher with its removals) and the
// cache plan over it (header left to the caller).
ArchSpec candidate_arch(const TemporalCandidate& c, const ArchSpec& teacher);
CachePlan candidate_plan(const TemporalCandidate& c, const ArchSpec& teacher, int steps,
                         const std::string& sampler);

// cache_search.json's body: the run's scale and every candidate and baseline with its files.
nlohmann::json temporal_search_json(const TemporalSearchResult& r,
                                    const std::vector<TemporalCandidate>& baselines,
                                    const TemporalSearchOptions& o);
// The table asdm cache-plan search prints: candidates, then the baselines on the same axes.
std::string temporal_search_table(const TemporalSearchResult& r,
                                  const std::vector<TemporalCandidate>& baselines);

}  // namespace asdm
