#pragma once
// Architecture search under a latency budget (issue 6 item 2), torch-free: which units to remove
// so that the predicted quality loss (the sum of their importance scores) is least while the
// predicted UNet latency is at most (1 - target) x the teacher's.
//
// Exact for additive scores: a multiple-choice knapsack by dynamic programming on latency saved,
// discretised downwards (so every emitted set really meets its budget under the predictor). Each
// ResBlock is an item; the attention units of one block are one choice among their subsets, so
// that "keep at least one cross-attention in every block that has one" is a constraint of the
// search, not a repair afterwards. With GRI choices, each such attention unit is kept, removed or
// made GRI (which keeps its cross-attention). Units nested in another (TransformerBlocks) are not
// searched.
#include <map>
#include <string>
#include <vector>

namespace asdm {

struct UNetLayout;
class LatencyModel;

// An attention unit's global-regional (GRI) self-attention as a third choice beside keeping and
// removing it: the latency it saves (measured, profiler/replacement_cost.h) and its quality loss
// (the tier-1 score of the teacher with that unit's self-attention as GRI, on the scale of the
// importance scores).
struct GriChoice {
  double saved_ms = 0;
  double loss = 0;
};

struct SearchOptions {
  double target_speedup = 0.22;  // predicted latency <= (1 - target) x teacher
  int max_candidates = 8;        // candidates along the Pareto front, from the target upwards
  double candidate_step = 0.02;  // speedup between successive candidates
  std::vector<std::string> keep, remove;  // never removed; always removed
  bool keep_cross_attention = true;       // at least one attention unit in every block that has one
  int bins = 4000;                        // latency resolution: teacher time / bins
  std::map<std::string, GriChoice> gri;  // attention units that may become GRI (none: removal only)
};

struct Candidate {
  std::vector<std::string> removed;  // forward order
  std::vector<std::string> gri;  // attention units whose self-attention becomes GRI, forward order
  double predicted_ms = 0, predicted_speedup = 0;  // speedup: 1 - predicted / teacher
  double predicted_loss = 0;  // sum of the removed units' and GRI choices' scores
};

struct ParetoPoint {
  double speedup = 0, loss = 0;
};

struct SearchResult {
  double teacher_ms = 0;
  double best_reachable_speedup = 0;  // every allowed unit removed
  std::vector<Candidate> candidates;  // by speedup, the first meets the target
  std::vector<ParetoPoint> front;     // the whole front (speedup, least loss), ascending speedup
  int searched_units = 0;
};

// scores: importance per unit id (importance.json); every searched unit needs one. Throws
// asdm::Error for unknown ids in keep/remove, units without scores, or an unreachable target (the
// message says the best reachable speedup).
SearchResult search(const UNetLayout& layout, const LatencyModel& latency,
                    const std::map<std::string, double>& scores, const SearchOptions& options);

}  // namespace asdm
