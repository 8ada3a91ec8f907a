#pragma once
// How the analysis runners (ablation, temporal analysis) sample a subject: its scheduler's
// sampler settings, the denoiser of a prompt batch (with classifier-free guidance: the
// unconditional rows first, then the conditional ones, in one forward), and epsilon from the
// model's raw output. Internal to analysis/; light header.
#include <vector>

#include "model/sampler.h"

namespace at {
class Tensor;
}

namespace asdm {

class AblationSubject;
class UnitObserver;

// `sampler` (name, steps, guidance) with the subject's prediction, spacing and offsets.
SamplerOptions sampler_for(const AblationSubject& subject, const SamplerOptions& sampler);

Denoiser denoiser(const AblationSubject& subject, const std::vector<int>& prompts, double guidance,
                  UnitObserver* observer);

at::Tensor epsilon(const AblationSubject& subject, const at::Tensor& x, const at::Tensor& out,
                   double t);

}  // namespace asdm
