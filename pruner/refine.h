#pragma once
// Refinement of a removal set with real grouped scores (issue 6 item 2), torch-free. The search's
// loss is the sum of single-unit scores; units removed together interact. Starting from a
// candidate, this swaps one removed unit for one kept unit while the grouped score (the units
// bypassed together, measured by the caller's function) improves and the swap keeps the set within
// the latency budget and the search's constraints: SnapFusion-style local search, greedy, with the
// swaps tried in order of their additive change.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "pruner/search.h"

namespace asdm {

struct RefineOptions {
  int max_evaluations = 40;  // grouped scores, the start's included
  int per_round = 6;         // swaps scored together; more batches while none improves
};

struct RefineStep {
  std::string out, in;  // unit put back, unit removed instead
  double loss = 0;      // grouped loss after the swap
};

struct RefineResult {
  std::vector<std::string> removed;  // forward order
  double start_loss = 0, loss = 0;   // grouped loss of the start and of the result
  int evaluations = 0;
  std::vector<RefineStep> steps;
};

// Scores removal sets, several at a time: each round asks for up to `per_round` swaps together (in
// the order of their additive change), so that a caller can spread them (asdm search over ranks).
using GroupedLosses =
    std::function<std::vector<double>(const std::vector<std::vector<std::string>>& sets)>;

// `grouped_losses` scores removal sets; `budget_ms` is the predicted latency a set may have;
// `options` gives the keep/remove lists and the cross-attention rule. A round scores the untried
// swaps `per_round` at a time, in order of their additive change, until a batch holds one that
// improves (the best improving swap so far is taken) or the evaluation budget is spent.
RefineResult refine(const UNetLayout& layout, const LatencyModel& latency,
                    const std::map<std::string, double>& scores, const SearchOptions& options,
                    const std::vector<std::string>& start, double budget_ms,
                    const GroupedLosses& grouped_losses, const RefineOptions& refine_options = {});

// The same with a scorer of one set at a time.
RefineResult refine(const UNetLayout& layout, const LatencyModel& latency,
                    const std::map<std::string, double>& scores, const SearchOptions& options,
                    const std::vector<std::string>& start, double budget_ms,
                    const std::function<double(const std::vector<std::string>&)>& grouped_loss,
                    const RefineOptions& refine_options = {});

}  // namespace asdm
