#pragma once
// Refinement of a searched cache plan with grouped scores (issue 23 item 3), torch-free: the
// counterpart of pruner/refine.h for plans. The search's loss adds up the (unit, call) reuses'
// one-step costs; units reused at the same calls interact. Starting from a candidate, a move takes
// some reuses from one unit (down to a shorter entry of its menu, pruner/temporal_search.h's
// ReuseMenu, or with local moves out of its present pattern) and gives another unit the fewest
// more that keep the run within the budget; moves are
// tried in order of their additive change (plus an interaction prior, PlanRefineOptions),
// `per_round` scored together, and the best that improves the grouped loss
// (analysis/plan_scoring.h, measured by the caller) is taken, greedily, until none does or the
// evaluations are spent. Removals stay as they are.
#include <functional>
#include <string>
#include <vector>

#include "pruner/temporal_search.h"

namespace asdm {

struct PlanRefineOptions {
  int max_evaluations = 24;  // grouped scores, the start's included
  int per_round = 6;         // moves scored together; more batches while none improves
  // The time one move shifts from one unit to another: this fraction of the teacher's run (at
  // least one reuse).
  double move_fraction = 0.01;
  // Order the moves by their additive change plus an interaction prior fitted to the last plan
  // scored (the errors of units reused at one call correlate); false: by the additive change only.
  bool interaction_prior = true;
  // Local moves: the unit reused less drops the reuses of its present pattern whose removal saves
  // the most additive loss, the other one adds the cheapest calls its present pattern allows,
  // one at a time; every other call of both stays as it was. Otherwise (the default) each takes
  // its menu's calls for its new count, which redraws its whole pattern.
  bool local_moves = false;
};

struct PlanMove {
  std::string fewer, more;                // the unit reused less, the unit reused more
  int fewer_reuses = 0, more_reuses = 0;  // their reuses after the move
  double loss = 0;                        // grouped loss after the move
};

struct PlanRefineResult {
  TemporalCandidate candidate;      // the result (the start when no move helped)
  double start_loss = 0, loss = 0;  // grouped losses of the start and the result
  int evaluations = 0;
  std::vector<PlanMove> moves;
};

// Scores candidates (their removals and reuses together), several at a time.
using CandidateLosses =
    std::function<std::vector<double>(const std::vector<TemporalCandidate>& candidates)>;

// `menus` are the search's (reuse_menus); `run_ms` the teacher's sampling run, `budget_ms` the
// predicted run time the result may have (the start's target). asdm::Error when the start reuses
// a unit that has no menu, or does not fit the budget.
PlanRefineResult refine_plan(const UNetLayout& layout, const LatencyModel& latency,
                             const std::vector<ReuseMenu>& menus, const TemporalCandidate& start,
                             double run_ms, double budget_ms, const CandidateLosses& losses,
                             const PlanRefineOptions& options = {});

}  // namespace asdm
