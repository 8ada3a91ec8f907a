#pragma once
// Temporal redundancy (issue 23, asdm ablate --temporal): per unit, how much its branch output
// (output - shortcut) changes between the sampler's model calls along the teacher's own
// trajectories, and what reusing it costs; written to temporal.json (analysis/temporal_record.h).
//
// Tier 1 (one teacher run per prompt batch, plus one forward per unit per call): at every call s
// each unit's branch b_s is compared with its branches g = 1..max_gap calls before (relative
// change |b_s - b_{s-g}|^2 / |b_s|^2), and the model's epsilon at the teacher's state x_s with the
// unit reusing b_{s-1} (its shortcut on x_s, model/branch_cache.h) is compared with the teacher's:
// the one-step reuse cost, normalised MSE, for every call s >= 1. With classifier-free guidance a
// prompt's two rows count together.
// Tier 2: per unit and interval k, the model samples with that unit alone on DeepCache's uniform
// policy (computed at calls 0, k, 2k, ...); its final samples against the teacher's: 1 - SSIM,
// PSNR and the subject's quality metrics with their change from the teacher's.
//
// temporal.json is rewritten after every prompt batch of tier 1 and every tier-2 item, so an
// interrupted run continues with resume (same settings, else an error naming the differences).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analysis/ablation.h"
#include "analysis/temporal_record.h"

namespace asdm {

struct TemporalOptions {
  std::string tier = "1";  // "1" | "2" | "both"
  SamplerOptions sampler;  // name, steps, guidance
  uint64_t seed = 0;       // noise of prompt i: prompt_noise(seed, i)
  int batch = 16;
  int bootstrap = 1000;
  int max_gap = 4;                         // relative change for gaps 1..max_gap
  std::vector<int> intervals = {2, 3, 5};  // tier 2
  std::vector<std::string> units;          // empty: every top-level removable unit the model keeps
  std::optional<ProfileLatency> profile;
  // Tier 1's reuse probes replay the teacher's forward of the same call up to the probed unit
  // (model/prefix_replay.h): the same numbers in about half the work (false: computed whole).
  bool prefix_replay = true;
};

// The analysis with an ablation's settings: tier, sampler, seed, batch, bootstrap, units and
// profile from `ablation` (and prefix_replay from its prefix_chunk > 1), max_gap and intervals as
// given. asdm::Error for the ablation options it has no use for (shards, groups, top, rank-from, a
// cache plan), before any work.
TemporalOptions temporal_options(const AblationOptions& ablation, int max_gap,
                                 const std::vector<int>& intervals);

// Runs the analysis, writing `out` as it goes; with resume, continues the run `out` holds. Without
// resume, an unfinished run's file is not overwritten. Progress: AblationProgress with tier "1"
// (id: "prompts a-b, call s") or "2" (id: "unit kN"); "teacher" once at the start.
TemporalArtifact run_temporal(const AblationSubject& subject, const TemporalOptions& options,
                              const RunContext& context, const std::filesystem::path& out,
                              bool resume,
                              const std::function<void(const AblationProgress&)>& progress = {});

}  // namespace asdm
