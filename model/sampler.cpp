#include "model/sampler.h"

#include <cmath>

#include <torch/torch.h>

#include "core/error.h"

namespace asdm {

Denoiser guided(ConditionalModel model, const at::Tensor& cond, const at::Tensor& uncond, double guidance) {
  if (guidance == 1.0) return [model, cond](const at::Tensor& x, double t) { return model(x, t, cond); };
  ASDM_CHECK(uncond.defined(), "classifier-free guidance needs an unconditional embedding");
  return [model, cond, uncond, guidance](const at::Tensor& x, double t) {
    const int64_t b = x.size(0);
    const at::Tensor u = uncond.size(0) == b ? uncond : uncond.expand({b, uncond.size(1), uncond.size(2)});
    const at::Tensor out = model(torch::cat({x, x}), t, torch::cat({u, cond}));
    const auto parts = out.chunk(2, 0);
    return parts[0] + guidance * (parts[1] - parts[0]);
  };
}

void validate(const SamplerOptions& o, const NoiseSchedule& s) {
  if (o.sampler != "ddim" && o.sampler != "euler") fail("unknown sampler '{}' (known: ddim, euler)", o.sampler);
  if (!(o.guidance >= 0)) fail("guidance must be >= 0 (got {})", o.guidance);
  sampling_timesteps(s.train_steps(), o.steps, o.spacing, o.steps_offset);  // validates steps and spacing
}

std::pair<at::Tensor, at::Tensor> x0_and_epsilon(const at::Tensor& x, const at::Tensor& out, double a, Prediction p) {
  const double sa = std::sqrt(a), sb = std::sqrt(1 - a);
  if (p == Prediction::kEpsilon) return {(x - sb * out) / sa, out};
  return {sa * x - sb * out, sa * out + sb * x};
}

at::Tensor prompt_noise(const std::vector<int64_t>& shape, uint64_t seed, uint64_t index) {
  std::vector<int64_t> s = {1};
  s.insert(s.end(), shape.begin(), shape.end());
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ull + index);
  return torch::randn(s, g, torch::TensorOptions().dtype(torch::kFloat32));
}

namespace {

at::Tensor ddim(const Denoiser& model, at::Tensor x, const NoiseSchedule& s, const SamplerOptions& o,
                const std::function<void(int, int)>& done) {
  const auto ts = sampling_timesteps(s.train_steps(), o.steps, o.spacing, o.steps_offset);
  const int ratio = s.train_steps() / o.steps;
  const double final_a = o.final_alpha_one ? 1.0 : s.alphas_cumprod[0];
  for (int i = 0; i < o.steps; ++i) {
    const double t = ts[i];
    // diffusers: prev_t = t - train_steps / steps; the last step goes to the final alpha.
    const double prev = t - ratio;
    const double a = s.alpha_bar(t), a_prev = prev >= 0 ? s.alpha_bar(prev) : final_a;
    const at::Tensor out = model(x, t);
    auto [x0, eps] = x0_and_epsilon(x, out.to(x.scalar_type()), a, o.prediction);
    x = std::sqrt(a_prev) * x0 + std::sqrt(1 - a_prev) * eps;
    if (done) done(i + 1, o.steps);
  }
  return x;
}

at::Tensor euler(const Denoiser& model, at::Tensor x, const NoiseSchedule& s, const SamplerOptions& o,
                 const std::function<void(int, int)>& done) {
  const auto ts = sampling_timesteps(s.train_steps(), o.steps, o.spacing, o.steps_offset);
  std::vector<double> sig;
  for (double t : ts) sig.push_back(s.sigma(t));
  sig.push_back(0.0);
  const double smax = sig.front();
  x = x * (o.spacing == "leading" ? std::sqrt(smax * smax + 1) : smax);  // diffusers' init_noise_sigma
  for (int i = 0; i < o.steps; ++i) {
    const double sg = sig[i];
    const double c_in = 1 / std::sqrt(sg * sg + 1);
    const at::Tensor out = model(x * c_in, ts[i]).to(x.scalar_type());
    at::Tensor x0 = o.prediction == Prediction::kEpsilon
                        ? x - sg * out
                        : out * (-sg / std::sqrt(sg * sg + 1)) + x / (sg * sg + 1);
    const at::Tensor d = (x - x0) / sg;
    x = x + d * (sig[i + 1] - sg);
    if (done) done(i + 1, o.steps);
  }
  return x;
}

}  // namespace

at::Tensor sample(const Denoiser& model, const at::Tensor& noise, const NoiseSchedule& s, const SamplerOptions& o,
                  const std::function<void(int, int)>& done) {
  validate(o, s);
  return o.sampler == "ddim" ? ddim(model, noise, s, o, done) : euler(model, noise, s, o, done);
}

}  // namespace asdm
