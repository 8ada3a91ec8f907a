// Noise schedule, timestep grids (values from diffusers 0.42.1's DDIM/Euler schedulers) and the
// samplers on an analytic case: data that is a single point, denoised by the exact model.
#include "model/sampler.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/noise_schedule.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(NoiseSchedule, ScaledLinearMatchesStableDiffusion) {
  const NoiseSchedule s = NoiseSchedule::make();
  ASSERT_EQ(s.train_steps(), 1000);
  EXPECT_NEAR(s.alphas_cumprod[0], 0.99915, 1e-12);
  EXPECT_NEAR(s.alphas_cumprod[499], 0.27766965045646763, 1e-12);
  EXPECT_NEAR(s.alphas_cumprod[999], 0.004660098513077238, 1e-12);
  EXPECT_DOUBLE_EQ(s.alpha_bar(-1), 1.0);
  EXPECT_NEAR(s.sigma(999), 14.614646911621094, 1e-5);
  EXPECT_NEAR(s.sigma(499.5), 1.6155834197998047, 1e-5);  // interpolated in sigma, as diffusers
}

TEST(NoiseSchedule, TimestepGridsMatchDiffusers) {
  const auto leading = sampling_timesteps(1000, 50, "leading", 1);
  ASSERT_EQ(leading.size(), 50u);
  EXPECT_EQ(leading[0], 981);
  EXPECT_EQ(leading[1], 961);
  EXPECT_EQ(leading.back(), 1);
  EXPECT_EQ(sampling_timesteps(1000, 4, "trailing", 0), (std::vector<double>{999, 749, 499, 249}));
  EXPECT_EQ(sampling_timesteps(1000, 3, "linspace", 0), (std::vector<double>{999, 499.5, 0}));
  EXPECT_EQ(sampling_timesteps(1000, 4, "leading", 1), (std::vector<double>{751, 501, 251, 1}));
}

// A scheduler_config.json lacking keys (saved by an old diffusers, or written by hand): diffusers
// fills them from the class's __init__ defaults, so asdm does too (values printed by diffusers
// 0.42.1's <Class>.from_config({"_class_name": ...}); before, asdm took SD's values for every
// class: an Euler config without timestep_spacing sampled on "leading" instead of "linspace").
SchedulerConfig scheduler_from(const nlohmann::json& j) {
  const auto dir = test::scratch_dir("scheduler_defaults");
  write_json_atomic(dir / "scheduler_config.json", j);
  return read_scheduler_config((dir / "scheduler_config.json").string());
}

TEST(SchedulerConfig, MissingKeysTakeTheClassDefaultsAsInDiffusers) {
  const SchedulerConfig euler = scheduler_from({{"_class_name", "EulerDiscreteScheduler"}});
  EXPECT_EQ(euler.sampler, "euler");
  EXPECT_EQ(euler.schedule.kind, "linear");
  EXPECT_DOUBLE_EQ(euler.schedule.beta_start, 0.0001);
  EXPECT_DOUBLE_EQ(euler.schedule.beta_end, 0.02);
  EXPECT_EQ(euler.spacing, "linspace");
  EXPECT_EQ(euler.steps_offset, 0);
  // diffusers' timesteps for 5 steps: [999.0, 749.25, 499.5, 249.75, 0.0]
  EXPECT_EQ(sampling_timesteps(1000, 5, euler.spacing, euler.steps_offset),
            (std::vector<double>{999, 749.25, 499.5, 249.75, 0}));
  const SchedulerConfig dpm = scheduler_from({{"_class_name", "DPMSolverMultistepScheduler"}});
  EXPECT_EQ(dpm.sampler, "dpm++2m");
  EXPECT_EQ(dpm.spacing, "linspace");
  // DDIM clips the predicted sample unless told not to; PNDM runs Runge-Kutta steps unless told
  // to skip them: neither is implemented, so a config without those keys is refused.
  const SchedulerConfig ddim = scheduler_from({{"_class_name", "DDIMScheduler"}});
  EXPECT_EQ(ddim.sampler, "");
  EXPECT_EQ(ddim.sampler_error,
            "DDIMScheduler with clip_sample = true (its default) is not implemented (asdm's "
            "sampler assumes false)");
  EXPECT_TRUE(ddim.final_alpha_one);
  EXPECT_EQ(ddim.spacing, "leading");
  EXPECT_EQ(ddim.steps_offset, 0);
  EXPECT_EQ(scheduler_from({{"_class_name", "DDIMScheduler"}, {"clip_sample", false}}).sampler,
            "ddim");
  // null, as a hand-edited file may say, is None to diffusers: falsy.
  EXPECT_EQ(scheduler_from({{"_class_name", "DDIMScheduler"}, {"clip_sample", nullptr}}).sampler,
            "ddim");
  EXPECT_NE(scheduler_from({{"_class_name", "PNDMScheduler"}, {"skip_prk_steps", nullptr}})
                .sampler_error.find("skip_prk_steps = false"),
            std::string::npos);
  EXPECT_EQ(scheduler_from({{"_class_name", "PNDMScheduler"}}).sampler_error,
            "PNDMScheduler with skip_prk_steps = false (its default) is not implemented (asdm's "
            "sampler assumes true)");
  // No class: Stable Diffusion's values, as before.
  const SchedulerConfig none = scheduler_from(nlohmann::json::object());
  EXPECT_EQ(none.schedule.kind, "scaled_linear");
  EXPECT_EQ(none.spacing, "leading");
  EXPECT_EQ(none.steps_offset, 1);
}

TEST(SchedulerConfig, SettingsThatChangeTheScheduleAreRefused) {
  nlohmann::json euler = {{"_class_name", "EulerDiscreteScheduler"}};
  euler["rescale_betas_zero_snr"] = true;
  EXPECT_EQ(scheduler_from(euler).sampler_error,
            "EulerDiscreteScheduler with rescale_betas_zero_snr = true is not implemented (asdm's "
            "sampler assumes false)");
  euler["rescale_betas_zero_snr"] = false;
  euler["trained_betas"] = std::vector<double>(1000, 0.001);
  EXPECT_EQ(scheduler_from(euler).sampler_error,
            "EulerDiscreteScheduler with trained_betas = [0.001,0.001,0.001,0.001,0.001,0.001 ... "
            "is not implemented (asdm's sampler assumes null)");
  euler["trained_betas"] = nullptr;  // as diffusers saves it
  EXPECT_EQ(scheduler_from(euler).sampler, "euler");
  euler["timestep_type"] = "continuous";
  EXPECT_NE(scheduler_from(euler).sampler_error.find("timestep_type"), std::string::npos);
  nlohmann::json dpm = {{"_class_name", "DPMSolverMultistepScheduler"}, {"use_lu_lambdas", true}};
  EXPECT_NE(scheduler_from(dpm).sampler_error.find("use_lu_lambdas = true"), std::string::npos);
  dpm = {{"_class_name", "DPMSolverMultistepScheduler"}, {"variance_type", "learned_range"}};
  EXPECT_NE(scheduler_from(dpm).sampler_error.find("variance_type = \"learned_range\""),
            std::string::npos);
}

TEST(NoiseSchedule, BadArgumentsAreOneLine) {
  EXPECT_EQ(test::error_of([] { NoiseSchedule::make("cosine"); }),
            "unknown beta schedule 'cosine' (known: scaled_linear, linear)");
  EXPECT_EQ(test::error_of([] { sampling_timesteps(1000, 0); }),
            "sampling steps must be in 1..1000 (got 0)");
  EXPECT_EQ(test::error_of([] { sampling_timesteps(1000, 10, "karras"); }),
            "unknown timestep spacing 'karras' (known: leading, trailing, linspace)");
  EXPECT_EQ(test::error_of([] { parse_prediction("sample"); }),
            "unknown prediction type 'sample' (known: epsilon, v_prediction)");
  SamplerOptions o;
  o.sampler = "lms";
  EXPECT_EQ(test::error_of([&] { validate(o, NoiseSchedule::make()); }),
            "unknown sampler 'lms' (known: ddim, euler, dpm++2m, pndm)");
}

// The exact denoiser for data concentrated at `point`: x_t = sqrt(a) point + sqrt(1 - a) eps.
Denoiser exact(const NoiseSchedule& s, const torch::Tensor& point, Prediction p) {
  return [&s, point, p](const at::Tensor& x, double t) {
    const double sg = s.sigma(t), a = 1 / (1 + sg * sg);  // = alpha-bar at integer t
    const at::Tensor eps = (x - std::sqrt(a) * point) / std::sqrt(1 - a);
    return p == Prediction::kEpsilon ? eps : std::sqrt(a) * eps - std::sqrt(1 - a) * point;
  };
}

TEST(Sampler, EverySamplerSamplesASinglePointBackToIt) {
  torch::manual_seed(0);
  const NoiseSchedule s = NoiseSchedule::make();
  const auto point = torch::randn({2, 3, 4, 4}, torch::kFloat64);
  const auto noise = torch::randn({2, 3, 4, 4}, torch::kFloat64);
  for (Prediction p : {Prediction::kEpsilon, Prediction::kV}) {
    for (const std::string& sampler : sampler_names()) {
      for (const char* spacing : {"leading", "trailing", "linspace"}) {
        // PNDM, as diffusers runs it (tests/reference), is exact here only for epsilon prediction
        // on grids spaced train_steps / steps apart: it combines raw model outputs over steps (v
        // varies along the trajectory, epsilon does not) and always steps back by train_steps /
        // steps.
        if (sampler == "pndm" && (p == Prediction::kV || std::string(spacing) == "linspace"))
          continue;
        SamplerOptions o;
        o.sampler = sampler;
        o.prediction = p;
        o.spacing = spacing;
        o.steps = 10;
        o.final_alpha_one = true;
        int steps = 0;
        const auto x = sample(exact(s, point, p), noise, s, o, [&](int i, int n) { steps = i; });
        EXPECT_EQ(steps, model_calls(o));  // PNDM: one more call than steps
        EXPECT_LT((x - point).abs().max().item<double>(), 1e-9)
            << sampler << " " << spacing << " " << to_string(p);
      }
    }
  }
  // SD's DDIM stops at alpha-bar_0 = 0.99915, not 1: the sample keeps sqrt(1 - 0.99915) of noise.
  SamplerOptions o;
  const auto x = sample(exact(s, point, Prediction::kEpsilon), noise, s, o);
  const double err = (x - point).abs().max().item<double>();
  EXPECT_GT(err, 1e-4);
  EXPECT_LT(err, std::sqrt(1 - 0.99915) * noise.abs().max().item<double>() * 1.01);
}

// The step CUDA graphs capture (model/sampler.h's tensor step: per-step numbers from a device
// table) is the sampler's own arithmetic: float32 samples equal sample()'s bit for bit on the CPU,
// every sampler that has one, both predictions, every spacing, a nonlinear model.
TEST(Sampler, TheTensorStepIsTheSamplersOwn) {
  torch::manual_seed(1);
  const NoiseSchedule s = NoiseSchedule::make();
  const auto noise = torch::randn({2, 3, 4, 4});
  const Denoiser eager = [](const at::Tensor& x, double t) {
    return torch::tanh(x * 0.7 + t / 1000) - 0.1 * x;
  };
  const TensorDenoiser graphable = [](const at::Tensor& x, const at::Tensor& t) {
    EXPECT_EQ(t.numel(), 1);
    return torch::tanh(x * 0.7 + t.item<double>() / 1000) - 0.1 * x;
  };
  for (Prediction p : {Prediction::kEpsilon, Prediction::kV}) {
    for (const std::string& sampler : sampler_names()) {
      for (const char* spacing : {"leading", "trailing", "linspace"}) {
        SamplerOptions o;
        o.sampler = sampler;
        o.prediction = p;
        o.spacing = spacing;
        o.steps = 7;
        if (sampler == "pndm") {
          EXPECT_FALSE(has_tensor_step(o));
          EXPECT_EQ(test::error_of([&] { tensor_step(o, graphable); }),
                    "the pndm sampler has no tensor step (ddim, euler and dpm++2m have)");
          continue;
        }
        ASSERT_TRUE(has_tensor_step(o));
        int steps = 0;
        const auto want = sample(eager, noise, s, o);
        const auto got =
            sample_stepwise(tensor_step(o, graphable), noise, s, o, [&](int i, int) { steps = i; });
        EXPECT_EQ(steps, o.steps);
        EXPECT_TRUE(torch::equal(got, want)) << sampler << " " << spacing << " " << to_string(p);
      }
    }
  }
}

TEST(Sampler, GuidanceDoublesTheBatchAndExtrapolates) {
  std::vector<int64_t> batches;
  ConditionalModel model = [&](const at::Tensor& x, double, const at::Tensor& cond) {
    batches.push_back(x.size(0));
    return cond.select(1, 0).select(1, 0).view({-1, 1, 1, 1}) * torch::ones_like(x);
  };
  const auto cond = torch::full({3, 5, 8}, 2.0), uncond = torch::full({1, 5, 8}, 1.0);
  const auto x = torch::zeros({3, 4, 2, 2});
  EXPECT_TRUE(torch::allclose(guided(model, cond, uncond, 3.0)(x, 10), torch::full_like(x, 4.0)));
  EXPECT_EQ(batches, std::vector<int64_t>{6});
  EXPECT_TRUE(torch::allclose(guided(model, cond, uncond, 1.0)(x, 10), torch::full_like(x, 2.0)));
  EXPECT_EQ(batches, (std::vector<int64_t>{6, 3}));
}

}  // namespace
}  // namespace asdm
