#pragma once
// The search stage (asdm search) as a library call: from a teacher's profile.json and
// importance.json to candidates.json's CandidateSet — the exact removal search (pruner/search.h),
// A-SDM's replacement blocks priced by timing them (CLME-CondConv always; GRI where it measures
// faster, scored as a third choice when a scorer is given), refinement of the first candidate by
// grouped scores, and, on request, every candidate and random removal sets measured against the
// teacher in interleaved forwards. Light header.
#include <functional>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "pruner/candidates.h"
#include "pruner/search.h"

namespace asdm {

struct CandidateSearchOptions {
  std::string profile;           // profile.json of the teacher (single forwards)
  std::string importance;        // importance.json of the teacher
  std::string model;             // the teacher; "": the model profile.json names
  std::string metric = "tier1";  // importance score: tier1 | tier2 | clip
  SearchOptions search;
  bool clme = false, gri = false;  // replacement blocks allowed in the candidates
  int gri_window = 8, gri_pool = 2, gri_min_tokens = 1024;
  int refine_evals = 40;  // with a scorer: grouped scores of the refinement
  bool measure = false;   // time the teacher and every candidate
  int validate = 0;       // also time this many random removal sets
  int runs = 10, warmup = 2;
  // --measure and --validate replay CUDA graphs; on by itself when the profile was taken with
  // graphs (asdm profile --graphs), so that measured and predicted times are of the same kind.
  bool graphs = false;
  // Where --measure and --validate time the forwards (random weights, converted once built).
  std::string device = "cpu", dtype = "float32";
  // Grouped scores (GRI's and the refinement's) kept in this file as they are computed
  // (core/score_memo.h), so that the same search again — after a kill — takes them from there;
  // `scoring_inputs` names what the scorer reads besides the model and the importance run (the
  // prompt or embeddings file and its SHA-256). Empty: not kept.
  std::string scores_file, scoring_inputs;
};

// Scores the teacher with `edits` applied and `removed` bypassed, on the importance run's tier-1
// scale (analysis/group_scoring.h makes one from prompts or embeddings).
using GroupLossFn =
    std::function<double(const std::vector<Edit>& edits, const std::vector<std::string>& removed)>;

struct ImportanceScores;
// Makes the scorer once the teacher and its importance run are known (analysis/group_scoring.h's
// make_group_loss, on prompts or embeddings); an empty factory: no scoring, so no refinement, and
// GRI placed by latency alone.
using GroupLossFactory =
    std::function<GroupLossFn(const std::string& model, const ImportanceScores& importance)>;

// How a batch of grouped scores (a refinement round's swaps) is computed: when empty, one set after
// another with the scorer; asdm search under torchrun spreads the sets over the job's ranks.
using GroupLossSpread =
    std::function<std::vector<double>(const GroupLossFn& scorer, const std::vector<Edit>& edits,
                                      const std::vector<std::vector<std::string>>& removed_sets)>;

// What the stage says while it works, for a progress line: a message, or a forward count.
struct SearchProgress {
  std::function<void(const std::string&)> note;
  std::function<void(int done, int total)> measuring;
};

// Throws asdm::Error for unreadable inputs, a model the profile does not name, an unreachable
// target, or (with replacement blocks) no candidate that meets the target with their costs.
CandidateSet search_candidates(const CandidateSearchOptions& options,
                               const GroupLossFactory& make_scorer, const RunContext& context,
                               const SearchProgress& progress = {},
                               const GroupLossSpread& spread = {});

// The candidates as the table asdm search prints (one line per candidate, then the teacher line,
// the refinement and the validation summary where present).
std::string candidates_table(const CandidateSet& set);

}  // namespace asdm
