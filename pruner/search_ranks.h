#pragma once
// The search stage over the ranks of a job (issue 24; distributed/group.h): rank 0 runs
// search_candidates (and its --measure timings, alone, so that nothing runs beside them); the
// refinement's grouped scores, asked for a batch at a time, are spread over every rank (set i to
// rank i % N), each rank building the scorer from the same factory. Light header.
#include <optional>

#include "pruner/search_candidates.h"

namespace asdm {

namespace dist {
class Group;
}

// The candidates on rank 0, nullopt on the other ranks (which serve scores until rank 0 ends,
// also when it fails). A job of one runs search_candidates. Throws asdm::Error on several ranks
// without a scorer: there is nothing to spread.
std::optional<CandidateSet> search_candidates_over_ranks(const CandidateSearchOptions& options,
                                                         const GroupLossFactory& make_scorer,
                                                         const RunContext& context,
                                                         const SearchProgress& progress,
                                                         dist::Group& job);

}  // namespace asdm
