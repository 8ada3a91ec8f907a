#include "model/sampler.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "core/error.h"

namespace asdm {

Denoiser guided(ConditionalModel model, const at::Tensor& cond, const at::Tensor& uncond,
                double guidance) {
  if (guidance == 1.0)
    return [model, cond](const at::Tensor& x, double t) { return model(x, t, cond); };
  ASDM_CHECK(uncond.defined(), "classifier-free guidance needs an unconditional embedding");
  return [model, cond, uncond, guidance](const at::Tensor& x, double t) {
    const int64_t b = x.size(0);
    const at::Tensor u =
        uncond.size(0) == b ? uncond : uncond.expand({b, uncond.size(1), uncond.size(2)});
    const at::Tensor out = model(torch::cat({x, x}), t, torch::cat({u, cond}));
    const auto parts = out.chunk(2, 0);
    return parts[0] + guidance * (parts[1] - parts[0]);
  };
}

const std::vector<std::string>& sampler_names() {
  static const std::vector<std::string> kNames = {"ddim", "euler", "dpm++2m", "pndm"};
  return kNames;
}

int model_calls(const SamplerOptions& o) {
  return o.sampler == "pndm" && o.steps >= 2 ? o.steps + 1 : o.steps;
}

SamplerOptions with_scheduler(SamplerOptions o, const SchedulerConfig& sc) {
  o.prediction = sc.prediction;
  o.spacing = sc.spacing;
  o.steps_offset = sc.steps_offset;
  o.final_alpha_one = sc.final_alpha_one;
  return o;
}

void validate(const SamplerOptions& o, const NoiseSchedule& s) {
  const auto& names = sampler_names();
  if (std::find(names.begin(), names.end(), o.sampler) == names.end())
    fail("unknown sampler '{}' (known: {})", o.sampler, join_limited(names));
  if (!(o.guidance >= 0)) fail("guidance must be >= 0 (got {})", o.guidance);
  sampling_timesteps(s.train_steps(), o.steps, o.spacing,
                     o.steps_offset);  // validates steps and spacing
}

std::pair<at::Tensor, at::Tensor> x0_and_epsilon(const at::Tensor& x, const at::Tensor& out,
                                                 double a, Prediction p) {
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

at::Tensor ddim(const Denoiser& model, at::Tensor x, const NoiseSchedule& s,
                const SamplerOptions& o, const std::function<void(int, int)>& done) {
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

// The sigmas of the timesteps, then 0 (Euler's and DPM-Solver's final sigma).
std::vector<double> sigmas_to_zero(const NoiseSchedule& s, const std::vector<double>& ts) {
  std::vector<double> sig;
  for (double t : ts) sig.push_back(s.sigma(t));
  sig.push_back(0.0);
  return sig;
}

at::Tensor euler(const Denoiser& model, at::Tensor x, const NoiseSchedule& s,
                 const SamplerOptions& o, const std::function<void(int, int)>& done) {
  const auto ts = sampling_timesteps(s.train_steps(), o.steps, o.spacing, o.steps_offset);
  const auto sig = sigmas_to_zero(s, ts);
  const double smax = sig.front();
  x = x *
      (o.spacing == "leading" ? std::sqrt(smax * smax + 1) : smax);  // diffusers' init_noise_sigma
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

// DPMSolverMultistepScheduler's timesteps (its "leading" divides by steps + 1, unlike DDIM's).
std::vector<double> dpm_timesteps(int train, int steps, const std::string& spacing, int offset) {
  std::vector<double> ts;
  if (spacing == "linspace") {
    for (int i = steps; i >= 1; --i) ts.push_back(std::nearbyint(double(train - 1) * i / steps));
  } else if (spacing == "leading") {
    const int ratio = train / (steps + 1);
    for (int i = steps; i >= 1; --i) ts.push_back(double(i) * ratio + offset);
  } else {  // trailing
    const double ratio = double(train) / steps;
    for (double t = train; t > 0; t -= ratio) ts.push_back(std::nearbyint(t) - 1);
  }
  return ts;
}

// DPM-Solver++ (2M): data prediction, second order multistep (midpoint), first order on the first
// step and on the last (to sigma 0, where it returns the data prediction).
at::Tensor dpmpp_2m(const Denoiser& model, at::Tensor x, const NoiseSchedule& s,
                    const SamplerOptions& o, const std::function<void(int, int)>& done) {
  const auto ts = dpm_timesteps(s.train_steps(), o.steps, o.spacing, o.steps_offset);
  const auto sig = sigmas_to_zero(s, ts);
  auto alpha_sigma = [](double sg) {
    const double a = 1 / std::sqrt(sg * sg + 1);
    return std::pair<double, double>{a, sg * a};
  };
  at::Tensor prev_x0;
  double prev_lambda = 0;
  for (int i = 0; i < o.steps; ++i) {
    const auto [a_s, s_s] = alpha_sigma(sig[i]);
    const auto [a_t, s_t] = alpha_sigma(sig[i + 1]);
    const at::Tensor out = model(x, ts[i]).to(x.scalar_type());
    const at::Tensor x0 =
        x0_and_epsilon(x, out, a_s * a_s, o.prediction).first;  // alpha-bar = a_s^2
    const double lambda_s = std::log(a_s) - std::log(s_s);
    if (s_t == 0) {
      x = x0;
    } else {
      const double h = std::log(a_t) - std::log(s_t) - lambda_s, phi = std::exp(-h) - 1;
      if (i == 0) {
        x = (s_t / s_s) * x - (a_t * phi) * x0;
      } else {
        const double r0 = (lambda_s - prev_lambda) / h;
        const at::Tensor d1 = (1.0 / r0) * (x0 - prev_x0);
        x = (s_t / s_s) * x - (a_t * phi) * x0 - 0.5 * (a_t * phi) * d1;
      }
    }
    prev_x0 = x0;
    prev_lambda = lambda_s;
    if (done) done(i + 1, o.steps);
  }
  return x;
}

// PNDM with skip_prk_steps (SD's configuration): pseudo linear multistep, its first step taken
// twice (an Euler step, then the average of both outputs from the same sample), then Adams–
// Bashforth of order 2, 3 and 4 on the stored model outputs.
at::Tensor pndm(const Denoiser& model, at::Tensor x, const NoiseSchedule& s,
                const SamplerOptions& o, const std::function<void(int, int)>& done) {
  const int ratio = s.train_steps() / o.steps;
  auto base = sampling_timesteps(s.train_steps(), o.steps, o.spacing,
                                 o.steps_offset);  // DDIM's grid, descending
  std::reverse(base.begin(), base.end());
  for (double& v : base) v = std::nearbyint(v);  // PNDM's linspace grid is rounded
  std::vector<double> ts(base.begin(), base.end() - 1);
  if (base.size() >= 2) ts.push_back(base[base.size() - 2]);
  ts.push_back(base.back());
  std::reverse(ts.begin(), ts.end());
  const double final_a = o.final_alpha_one ? 1.0 : s.alphas_cumprod[0];
  std::vector<at::Tensor> ets;
  at::Tensor cur_sample;
  for (size_t k = 0; k < ts.size(); ++k) {
    double t = ts[k];
    const at::Tensor out = model(x, t).to(x.scalar_type());
    double prev_t = t - ratio;
    const size_t counter = k;
    if (counter != 1) {
      if (ets.size() > 3) ets.erase(ets.begin(), ets.end() - 3);
      ets.push_back(out);
    } else {
      prev_t = t;
      t = t + ratio;
    }
    at::Tensor mo;
    const size_t n = ets.size();
    if (n == 1 && counter == 0) {
      mo = out;
      cur_sample = x;
    } else if (n == 1 && counter == 1) {
      mo = (out + ets.back()) / 2;
      x = cur_sample;
    } else if (n == 2) {
      mo = (3 * ets[1] - ets[0]) / 2;
    } else if (n == 3) {
      mo = (23 * ets[2] - 16 * ets[1] + 5 * ets[0]) / 12;
    } else {
      mo = (55 * ets[n - 1] - 59 * ets[n - 2] + 37 * ets[n - 3] - 9 * ets[n - 4]) / 24;
    }
    const double a = s.alpha_bar(t), a_prev = prev_t >= 0 ? s.alpha_bar(prev_t) : final_a;
    if (o.prediction == Prediction::kV) mo = std::sqrt(a) * mo + std::sqrt(1 - a) * x;
    const double denom = a * std::sqrt(1 - a_prev) + std::sqrt(a * (1 - a) * a_prev);
    x = std::sqrt(a_prev / a) * x - ((a_prev - a) / denom) * mo;
    if (done) done(static_cast<int>(k + 1), static_cast<int>(ts.size()));
  }
  return x;
}

constexpr int64_t kRowWidth = 8;

}  // namespace

bool has_tensor_step(const SamplerOptions& o) {
  return o.sampler == "ddim" || o.sampler == "euler" || o.sampler == "dpm++2m";
}

// Each row: [t, then the sampler's numbers, in the order the step below reads them]. They are the
// same doubles the eager samplers above compute, so the step's float32 arithmetic is theirs.
at::Tensor step_table(const NoiseSchedule& s, const SamplerOptions& o) {
  validate(o, s);
  if (!has_tensor_step(o))
    fail("the {} sampler has no tensor step (ddim, euler and dpm++2m have)", o.sampler);
  std::vector<std::vector<double>> rows;
  if (o.sampler == "ddim") {
    const auto ts = sampling_timesteps(s.train_steps(), o.steps, o.spacing, o.steps_offset);
    const int ratio = s.train_steps() / o.steps;
    const double final_a = o.final_alpha_one ? 1.0 : s.alphas_cumprod[0];
    for (int i = 0; i < o.steps; ++i) {
      const double t = ts[i], prev = t - ratio;
      const double a = s.alpha_bar(t), a_prev = prev >= 0 ? s.alpha_bar(prev) : final_a;
      rows.push_back({t, std::sqrt(a), std::sqrt(1 - a), std::sqrt(a_prev), std::sqrt(1 - a_prev)});
    }
  } else if (o.sampler == "euler") {
    const auto ts = sampling_timesteps(s.train_steps(), o.steps, o.spacing, o.steps_offset);
    const auto sig = sigmas_to_zero(s, ts);
    for (int i = 0; i < o.steps; ++i) {
      const double sg = sig[i];
      rows.push_back({ts[i], 1 / std::sqrt(sg * sg + 1), sg, sig[i + 1] - sg,
                      -sg / std::sqrt(sg * sg + 1), sg * sg + 1});
    }
  } else {
    const auto ts = dpm_timesteps(s.train_steps(), o.steps, o.spacing, o.steps_offset);
    const auto sig = sigmas_to_zero(s, ts);
    double prev_lambda = 0;
    for (int i = 0; i < o.steps; ++i) {
      const double a_s = 1 / std::sqrt(sig[i] * sig[i] + 1), s_s = sig[i] * a_s;
      const double a_t = 1 / std::sqrt(sig[i + 1] * sig[i + 1] + 1), s_t = sig[i + 1] * a_t;
      const double ab = a_s * a_s, lambda_s = std::log(a_s) - std::log(s_s);
      // x = A x - B x0 - D (C (x0 - prev x0)): the last step (A, B, C, D) = (0, -1, 0, 0) gives x0,
      // the first (C = D = 0) the first-order step, bit for bit.
      double A = 0, B = -1, C = 0, D = 0;
      if (s_t != 0) {
        const double h = std::log(a_t) - std::log(s_t) - lambda_s, phi = std::exp(-h) - 1;
        A = s_t / s_s;
        B = a_t * phi;
        if (i > 0) {
          C = 1.0 / ((lambda_s - prev_lambda) / h);
          D = 0.5 * (a_t * phi);
        }
      }
      rows.push_back({ts[i], std::sqrt(ab), std::sqrt(1 - ab), A, B, C, D});
      prev_lambda = lambda_s;
    }
  }
  at::Tensor table = torch::zeros({int64_t(rows.size()), kRowWidth}, torch::kFloat64);
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t k = 0; k < rows[i].size(); ++k) table[int64_t(i)][int64_t(k)] = rows[i][k];
  return table;
}

TensorStep tensor_step(const SamplerOptions& o, TensorDenoiser model) {
  if (!has_tensor_step(o))
    fail("the {} sampler has no tensor step (ddim, euler and dpm++2m have)", o.sampler);
  const bool eps = o.prediction == Prediction::kEpsilon;
  const std::string sampler = o.sampler;
  return [model = std::move(model), eps, sampler](const at::Tensor& x, const at::Tensor& prev,
                                                  const at::Tensor& row) {
    auto c = [&row](int64_t k) { return row.select(0, k); };  // 0-dim: takes x's dtype
    const at::Tensor t = row.narrow(0, 0, 1);
    if (sampler == "euler") {
      const at::Tensor sg = c(2);
      const at::Tensor out = model(x * c(1), t).to(x.scalar_type());
      const at::Tensor x0 = eps ? x - sg * out : out * c(4) + x / c(5);
      const at::Tensor d = (x - x0) / sg;
      return std::pair<at::Tensor, at::Tensor>{x + d * c(3), x0};
    }
    const at::Tensor out = model(x, t).to(x.scalar_type());
    const at::Tensor sa = c(1), sb = c(2);
    const at::Tensor x0 = eps ? (x - sb * out) / sa : sa * x - sb * out;
    if (sampler == "ddim") {
      const at::Tensor e = eps ? out : sa * out + sb * x;
      return std::pair<at::Tensor, at::Tensor>{c(3) * x0 + c(4) * e, x0};
    }
    const at::Tensor d1 = c(5) * (x0 - prev);
    return std::pair<at::Tensor, at::Tensor>{c(3) * x - c(4) * x0 - c(6) * d1, x0};
  };
}

at::Tensor sample_stepwise(const TensorStep& step, const at::Tensor& noise, const NoiseSchedule& s,
                           const SamplerOptions& o, const std::function<void(int, int)>& done) {
  const at::Tensor rows = step_table(s, o);
  const at::Tensor table = rows.to(noise.device());
  at::Tensor x = noise;
  if (o.sampler == "euler") {
    const double smax = s.sigma(rows[0][0].item<double>());
    x = x * (o.spacing == "leading" ? std::sqrt(smax * smax + 1) : smax);
  }
  at::Tensor prev = torch::zeros_like(x);
  const int n = int(table.size(0));
  for (int i = 0; i < n; ++i) {
    auto [next, x0] = step(x, prev, table[i]);
    x = std::move(next);
    prev = std::move(x0);
    if (done) done(i + 1, n);
  }
  return x;
}

at::Tensor sample(const Denoiser& model, const at::Tensor& noise, const NoiseSchedule& s,
                  const SamplerOptions& o, const std::function<void(int, int)>& done) {
  validate(o, s);
  if (o.sampler == "euler") return euler(model, noise, s, o, done);
  if (o.sampler == "dpm++2m") return dpmpp_2m(model, noise, s, o, done);
  if (o.sampler == "pndm") return pndm(model, noise, s, o, done);
  return ddim(model, noise, s, o, done);
}

}  // namespace asdm
