#include "analysis/sampling.h"

#include <algorithm>

#include <torch/torch.h>

#include "analysis/importance.h"
#include "analysis/subject.h"
#include "analysis/temporal_record.h"
#include "core/artifact.h"
#include "core/error.h"

namespace asdm {

SamplerOptions sampler_for(const AblationSubject& s, const SamplerOptions& sampler) {
  return with_scheduler(sampler, s.scheduler());
}

std::vector<std::vector<int>> prompt_batches(int n, int batch) {
  std::vector<std::vector<int>> out;
  for (int b0 = 0; b0 < n; b0 += batch) {
    std::vector<int> idx;
    for (int i = b0; i < std::min(n, b0 + batch); ++i) idx.push_back(i);
    out.push_back(idx);
  }
  return out;
}

at::Tensor batch_noise(const AblationSubject& s, uint64_t seed, const std::vector<int>& prompts) {
  std::vector<at::Tensor> v;
  for (int i : prompts) v.push_back(prompt_noise(s.sample_shape(), seed, i));
  return torch::cat(v).to(s.device());
}

Denoiser denoiser(const AblationSubject& s, const std::vector<int>& prompts, double guidance,
                  UnitObserver* observer) {
  if (guidance == 1.0)
    return [&s, prompts, observer](const at::Tensor& x, double t) {
      return s.predict(x, t, prompts, observer);
    };
  std::vector<int> both(prompts.size(), -1);
  both.insert(both.end(), prompts.begin(), prompts.end());
  return [&s, both, guidance, observer](const at::Tensor& x, double t) {
    const at::Tensor out = s.predict(torch::cat({x, x}), t, both, observer);
    const auto parts = out.chunk(2, 0);
    return parts[0] + guidance * (parts[1] - parts[0]);
  };
}

at::Tensor epsilon(const AblationSubject& s, const at::Tensor& x, const at::Tensor& out, double t) {
  return x0_and_epsilon(x, out.to(x.scalar_type()), s.scheduler().schedule.alpha_bar(t),
                        s.scheduler().prediction)
      .second;
}

template <class S>
void fill_run_settings(S& st, const AblationSubject& s, const std::string& tier,
                       const SamplerOptions& sampler, uint64_t seed, int batch, int bootstrap,
                       const std::string& profile) {
  st.subject = s.description();
  st.prompts = s.num_prompts();
  st.prompts_sha256 = s.prompts_sha256();
  st.tier = tier;
  st.sampler = sampler.sampler;
  st.steps = sampler.steps;
  st.guidance = sampler.guidance;
  st.prediction = std::string(to_string(s.scheduler().prediction));
  st.spacing = s.scheduler().spacing;
  st.steps_offset = s.scheduler().steps_offset;
  st.seed = seed;
  st.batch = batch;
  st.bootstrap = bootstrap;
  st.profile = profile;
  st.sample_shape = s.sample_shape();
  st.output_space = s.output_space();
}

template void fill_run_settings(ImportanceSettings&, const AblationSubject&, const std::string&,
                                const SamplerOptions&, uint64_t, int, int, const std::string&);
template void fill_run_settings(TemporalSettings&, const AblationSubject&, const std::string&,
                                const SamplerOptions&, uint64_t, int, int, const std::string&);

void refuse_unfinished(const std::filesystem::path& out, std::string_view artifact,
                       const std::function<bool(const std::filesystem::path&)>& complete) {
  if (!std::filesystem::exists(out)) return;
  bool unfinished = false;
  try {
    unfinished = read_artifact_type(out) == artifact && !complete(out);
  } catch (const Error&) {
  }
  if (unfinished)
    fail(
        "{} holds the partial results of an unfinished run; continue it with --resume, or remove "
        "the file",
        out.string());
}

}  // namespace asdm
