#pragma once
// Ablation (issue 5): how much does the teacher's output move when a unit's branch is bypassed
// (DESIGN.md §3: the unit keeps only its shortcut), on validation prompts?
//
// Tier 1 (one step): the teacher samples every prompt once; its inputs x_t at K timesteps spread
// over the trajectory are kept with its epsilon there (v outputs are converted). Per unit, the
// bypassed model's epsilon at the same states: normalised MSE against the teacher's (the score)
// and cosine. Cost: K forwards (doubled under guidance) per prompt per unit.
// Tier 2 (full trajectory): the bypassed model samples from the same noise (with the options' cache
// plan, if any, like the teacher); its final samples against the teacher's: 1 - SSIM (the score),
// PSNR, normalised MSE, and the subject's quality metrics (proxy world: attribute accuracy, proxy
// FID) with their change from the teacher's.
//
// Scores are means over prompts with bootstrap 95% intervals. Results go to `importance.json`
// after every unit (atomically), so an interrupted run continues with resume; shards take a
// deterministic slice of the units and merge_importance joins them into the file one run makes.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analysis/importance.h"
#include "core/artifact.h"
#include "model/cache_plan.h"
#include "model/sampler.h"
#include "profiler/profile_io.h"

namespace asdm {

class AblationSubject;

struct AblationOptions {
  std::string tier = "1";  // "1" | "2" | "both"
  int timesteps = 4;       // K
  SamplerOptions sampler;  // name, steps, guidance; spacing and offsets come from the subject
  uint64_t seed = 0;       // noise of prompt i: prompt_noise(seed, i); bootstrap streams
  int batch = 16;          // prompts per forward (results depend on it in the last bits)
  int bootstrap = 1000;    // resamples for the 95% intervals
  std::vector<std::string> units;                // empty: every removable unit
  bool groups_only = false;                      // score only the groups
  std::vector<std::vector<std::string>> groups;  // units ablated together
  int top = 0;  // tier 2 on the `top` units with the highest tier-1 score only (0: all)
  // Tier-1 scores to pick the top units from (another run's importance.json; needed with shards).
  std::string rank_from_path;
  std::map<std::string, double> rank_from;
  int shard_index = 0, shard_count = 1;
  std::optional<ProfileLatency> profile;
  // Sampling with a cache plan (issue 23): the teacher's run and tier 2's runs use it (a bypassed
  // unit runs its shortcut whatever the plan says); tier 1 scores plain forwards at the states of
  // that run. Checked against the model and the sampler's calls.
  std::optional<CachePlan> cache_plan;
  std::string cache_plan_path;
  // Tier 1 scores up to this many pending entries together, state by state: the teacher's forward
  // at a kept state is recorded once, and each entry's forward replays the units that finish
  // before its first bypassed unit (model/prefix_replay.h), computing only the rest. The same
  // numbers as one entry at a time (1), in about half the work; a killed run loses at most the
  // chunk in progress (results are still written entry by entry).
  int prefix_chunk = 16;
};

struct AblationProgress {
  int done = 0, total = 0;  // work items (a unit and a tier), those of earlier runs included
  int resumed = 0;          // items found done in the file when the run started
  std::string id, tier;     // the item just finished ("" and "teacher" for the teacher pass)
  double seconds = 0;       // this run's time so far
};

// Tier-1 score (mean nMSE of epsilon over prompts and the K kept states) of any set of units
// bypassed together, against one teacher pass: what the search's refinement re-scores removal sets
// with. Settings as run_ablation's (timesteps, sampler, seed, batch). Scores of the subject itself
// replay its recorded forward up to the first bypassed unit (prefix_chunk > 1, and when the
// recordings of every kept state fit in 2 GiB), with the same numbers.
class GroupScorer {
 public:
  GroupScorer(const AblationSubject& subject,
              const AblationOptions& options);  // runs the teacher pass
  ~GroupScorer();
  double score(const std::vector<std::string>& units) const;
  // The same score for another model on the same inputs (AblationSubject::with_edits: e.g. the
  // teacher with one unit's self-attention as GRI), optionally with units bypassed. The teacher
  // itself scores exactly 0.
  double score(const AblationSubject& model, const std::vector<std::string>& units = {}) const;
  double teacher_seconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// --shard "i/n" as (i, n); asdm::Error unless 0 <= i < n.
std::pair<int, int> parse_shard(const std::string& text);

// One group: unit ids separated by commas, '+' or spaces.
std::vector<std::string> parse_group(const std::string& text);
// Groups file: one group per line (as parse_group reads it); '#' starts a comment.
std::vector<std::vector<std::string>> read_groups(const std::filesystem::path& path);

// What asdm ablate's flags name, as texts and files: --shard "i/n", --group (each a parse_group
// text), --groups (a file, read_groups), --rank-from (another run's tier-1 scores), --profile,
// --cache-plan, --units.
struct AblationInputs {
  std::string shard, groups_file, rank_from, profile, cache_plan;
  std::vector<std::string> units, group;
};
// Reads them into `options` (shard, units, groups, rank_from, profile, cache_plan). asdm::Error for
// a bad text or file, and for groups_only without any group.
void read_ablation_inputs(const AblationInputs& inputs, AblationOptions& options);

// Runs the ablation, writing `out` after every item; with resume, continues the run `out` holds
// (same settings, else an error naming the differences; a corrupt file is an error and is left as
// it is). Without resume, an unfinished run's file is not overwritten. Returns the document.
ImportanceArtifact run_ablation(const AblationSubject& subject, const AblationOptions& options,
                                const RunContext& context, const std::filesystem::path& out,
                                bool resume,
                                const std::function<void(const AblationProgress&)>& progress = {});

// Joins the complete shard files of one run (same settings, shards 0..n-1 each once) into the
// file a single run writes; writes it to `out` when given.
ImportanceArtifact merge_importance(const std::vector<std::filesystem::path>& shards,
                                    const RunContext& context,
                                    const std::filesystem::path& out = {});

// The tables asdm ablate prints: units by importance (tier 1, else tier 2), then by importance per
// ms saved when latency is known, rank correlations and the teacher's quality. max_rows 0: all.
std::string importance_table(const ImportanceArtifact& doc, int max_rows);
// A file's tables: importance.json's, or temporal.json's (analysis/temporal_record.h).
std::string importance_file_table(const std::filesystem::path& file, int max_rows);

// Rows for a table: single units and groups with their scores (NaN when absent), in the order of
// the document's results.
struct ImportanceRow {
  std::string id, kind;
  double tier1 = 0, tier1_low = 0, tier1_high = 0, cosine = 0;
  double tier2 = 0, psnr_db = 0,
         quality_delta = 0;  // quality_delta: change of mean attribute accuracy
  double saved_ms = 0, tier1_per_ms = 0;
};
std::vector<ImportanceRow> importance_rows(const ImportanceArtifact& doc);

}  // namespace asdm
