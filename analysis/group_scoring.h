#pragma once
// Grouped tier-1 scores on an importance run's scale, for asdm search: the refinement re-scores
// removal sets as groups, and GRI variants are scored like removals. Light header.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/arch_spec.h"

namespace asdm {

class AblationSubject;
struct ImportanceScores;

// The teacher `model` on scoring prompts — a prompt file (an SD pipeline's, its latents
// `latent_side` square, or a proxy pipeline's) or a safetensors of text embeddings — on the CPU in
// float32, as the grouped scores here and of cache plans (plan_scoring.h) take it. `clip`: a CLIP
// folder for an SD pipeline's CLIP score (an error for the other kinds).
std::shared_ptr<AblationSubject> load_scoring_subject(const std::string& model,
                                                      const std::string& prompts,
                                                      const std::string& embeddings,
                                                      int latent_side,
                                                      const std::string& clip = "");

// Scores the teacher with `edits` applied and `removed` bypassed (pruner/search_candidates.h's
// GroupLossFn).
using GroupLoss =
    std::function<double(const std::vector<Edit>& edits, const std::vector<std::string>& removed)>;

// The teacher `model` on the scoring prompts — a prompt file (`prompts`: an SD pipeline's or a
// proxy pipeline's) or a safetensors of text embeddings (`embeddings`) — with the importance run's
// sampler, timesteps, seed and batch. Loads the model and prompts now; the teacher pass runs at the
// first score (none when every score comes from a kept file). `note` hears a warning when the
// prompts are not the importance run's, and the start of the teacher pass.
GroupLoss make_group_loss(const std::string& model, const std::string& prompts,
                          const std::string& embeddings, const ImportanceScores& importance,
                          const std::function<void(const std::string&)>& note = {});

}  // namespace asdm
