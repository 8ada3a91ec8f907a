#pragma once
// Grouped scores of cache plans (issue 23 item 3). The cache-plan search prices every (unit, call)
// reuse alone and adds the prices up; units reused at the same calls, and removals beside them,
// interact. These score a whole plan on a subject's prompts, for the refinement of
// pruner/plan_refine.h and to put the DeepCache baselines on the search's scale. Light header.
//
// Metrics:
//  - "eps" (tier 1, the search's scale): along the teacher's own trajectories, the model with the
//    whole plan attached runs at every teacher state x_s, its stale branches kept from its own
//    earlier calls at the teacher's states; the sum over the run's calls of epsilon's normalised
//    MSE against the teacher's, mean over prompts.
//  - "ssim" (tier 2): the model samples with the plan from each prompt's noise; 1 - SSIM of the
//    final samples against the teacher's, mean over prompts.
//  - "fid" (tier 2, proxy pipelines with a classifier): the same samples' proxy FID against clean
//    renders of the prompts (proxy/metrics.h), all prompts together. Not relative to the teacher:
//    a plan that reuses nothing scores the teacher's own proxy FID, and lower is better.
//  - "clip" (tier 2, SD pipelines loaded with a CLIP model): the teacher's mean CLIP score of the
//    same samples against their prompts minus the plan's (a drop; negative when the plan scores
//    higher).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/cache_plan.h"
#include "model/sampler.h"

namespace asdm {

class AblationSubject;
struct TemporalSettings;

struct PlanScoreOptions {
  std::string metric = "eps";  // "eps" | "ssim" | "fid" | "clip"
  SamplerOptions sampler;      // name, steps, guidance
  uint64_t seed = 0;           // noise of prompt i: prompt_noise(seed, i)
  int batch = 16;
};

const std::vector<std::string>& plan_metrics();
std::string plan_metric_definition(const std::string& metric);
// Whether the metric scores the samples' quality ("fid", "clip") rather than their distance from
// the teacher's; such losses do not add up over reuses like epsilon's error.
bool plan_metric_scores_quality(const std::string& metric);

class PlanScorer {
 public:
  // Runs the teacher pass (trajectories, epsilons and final samples). asdm::Error for an unknown
  // metric or sampler settings the subject cannot take.
  PlanScorer(const AblationSubject& subject, const PlanScoreOptions& options);
  ~PlanScorer();
  // The plan's score: its reuses (and skip calls) applied, and the units its model removes
  // bypassed. asdm::Error when the plan is not for this subject's model (CachePlan::check, with
  // removals allowed) or has another number of calls. A plan that reuses nothing scores 0 ("eps",
  // "ssim", "clip") or the teacher's proxy FID ("fid").
  double score(const CachePlan& plan) const;
  int calls() const;
  double teacher_seconds() const;
  // The teacher's own proxy FID ("fid") or CLIP score ("clip"); NaN for the other metrics.
  double teacher_quality() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Scores plans, several at a time.
using PlanLosses = std::function<std::vector<double>(const std::vector<CachePlan>& plans)>;

// The teacher `model` on the scoring prompts — a prompt file (an SD or proxy pipeline's) or a
// safetensors of text embeddings — with temporal.json's sampler, guidance, seed, batch and latent
// size; `clip` a CLIP folder (eval/clip_scorer.h) for an SD pipeline's "clip" metric. Loads the
// model and prompts now; the teacher pass runs at the first plan scored (none when every score
// comes from a kept file). `note` hears a warning when the prompts are not the temporal run's, and
// the start of the teacher pass.
PlanLosses make_plan_losses(const std::string& model, const std::string& prompts,
                            const std::string& embeddings, const TemporalSettings& settings,
                            const std::string& metric,
                            const std::function<void(const std::string&)>& note = {},
                            const std::string& clip = "");

// What make_plan_losses' scores depend on besides the plan, as one JSON text (PlanScoring::
// identity in pruner/cache_search.h): the metric, the model's path, the prompt or embeddings
// file's path and SHA-256, the CLIP folder, and the run's sampler, steps, guidance, seed and
// sample shape.
std::string plan_scoring_identity(const std::string& model, const std::string& prompts,
                                  const std::string& embeddings, const TemporalSettings& settings,
                                  const std::string& metric, const std::string& clip = "");

}  // namespace asdm
