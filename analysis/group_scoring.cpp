#include "analysis/group_scoring.h"

#include <memory>

#include <fmt/format.h>

#include "analysis/ablation.h"
#include "analysis/importance_io.h"
#include "analysis/subject.h"
#include "core/error.h"

namespace asdm {

std::shared_ptr<AblationSubject> load_scoring_subject(const std::string& model,
                                                      const std::string& prompts,
                                                      const std::string& embeddings,
                                                      int latent_side, const std::string& clip) {
  const bool sd = !prompts.empty() && is_sd_pipeline_path(model);
  if (!clip.empty() && !sd)
    fail("a CLIP model scores Stable Diffusion pipelines with prompts; {} is not one", model);
  return std::make_shared<AblationSubject>(
      prompts.empty() ? load_embeddings_subject(model, embeddings)
      : sd            ? load_sd_subject(model, prompts, {}, "cpu", "float32", 0, latent_side, clip)
                      : load_proxy_subject(model, prompts));
}

GroupLoss make_group_loss(const std::string& model, const std::string& prompts,
                          const std::string& embeddings, const ImportanceScores& importance,
                          const std::function<void(const std::string&)>& note) {
  const auto subject =
      load_scoring_subject(model, prompts, embeddings, importance.settings.latent_side);
  const ImportanceRunSettings& st = importance.settings;
  if (note && subject->prompts_sha256() != st.prompts_sha256)
    note(
        fmt::format("warning: the scoring prompts are not the importance run's ({} prompts here, "
                    "{} there)",
                    subject->num_prompts(), st.prompts));
  AblationOptions ao;
  ao.timesteps = st.timesteps;
  ao.sampler.sampler = st.sampler;
  ao.sampler.steps = st.steps;
  ao.sampler.guidance = st.guidance;
  ao.seed = st.seed;
  ao.batch = st.batch;
  auto scorer = std::make_shared<std::shared_ptr<GroupScorer>>();  // made at the first score
  return [subject, scorer, ao, note](const std::vector<Edit>& edits,
                                     const std::vector<std::string>& removed) {
    if (!*scorer) {
      if (note) note(fmt::format("scoring: teacher pass over {} prompts", subject->num_prompts()));
      *scorer = std::make_shared<GroupScorer>(*subject, ao);
    }
    return (*scorer)->score(edits.empty() ? *subject : subject->with_edits(edits), removed);
  };
}

}  // namespace asdm
