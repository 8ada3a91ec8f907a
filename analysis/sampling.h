#pragma once
// What the analysis runners (ablation, temporal analysis) share: how they sample a subject (its
// scheduler's sampler settings, the denoiser of a prompt batch — with classifier-free guidance the
// unconditional rows first, then the conditional ones, in one forward — and epsilon from the
// model's raw output), and how they refuse to overwrite an unfinished run. Internal to analysis/;
// light header.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <set>

#include "model/observer.h"
#include "model/sampler.h"

namespace at {
class Tensor;
}

namespace asdm {

class AblationSubject;

// `sampler` (name, steps, guidance) with the subject's prediction, spacing and offsets.
SamplerOptions sampler_for(const AblationSubject& subject, const SamplerOptions& sampler);

// Runs only the shortcut of these units (removals without building the model).
class Bypass : public UnitObserver {
 public:
  explicit Bypass(const std::vector<std::string>& units) : units_(units.begin(), units.end()) {}
  bool bypass(const UnitInfo& u) override { return units_.count(u.id) > 0; }

 private:
  std::set<std::string> units_;
};

// Prompt indices 0..n-1 in batches of `batch` (the last may be shorter).
std::vector<std::vector<int>> prompt_batches(int n, int batch);
// The initial noise of these prompts, [prompts, ...] on the subject's device: prompt_noise(seed, i)
// each, so it does not depend on how prompts are batched.
at::Tensor batch_noise(const AblationSubject& subject, uint64_t seed,
                       const std::vector<int>& prompts);

Denoiser denoiser(const AblationSubject& subject, const std::vector<int>& prompts, double guidance,
                  UnitObserver* observer);

at::Tensor epsilon(const AblationSubject& subject, const at::Tensor& x, const at::Tensor& out,
                   double t);

// The run fields importance.json's and temporal.json's settings share (analysis/settings_json.h)
// from the subject and the options: subject, prompts and their hash, tier, sampler (with the
// subject's prediction, spacing and offset), seed, batch, bootstrap, profile path, sample shape
// and output space. S: ImportanceSettings or TemporalSettings.
template <class S>
void fill_run_settings(S& settings, const AblationSubject& subject, const std::string& tier,
                       const SamplerOptions& sampler, uint64_t seed, int batch, int bootstrap,
                       const std::string& profile);

// asdm::Error when `out` holds an unfinished run of `artifact` (`complete` reads the file; a file
// it cannot read is not a run and may be overwritten).
void refuse_unfinished(const std::filesystem::path& out, std::string_view artifact,
                       const std::function<bool(const std::filesystem::path&)>& complete);

}  // namespace asdm
