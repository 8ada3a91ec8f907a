#include "model/noise_schedule.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"

namespace asdm {

Prediction parse_prediction(const std::string& name) {
  if (name == "epsilon") return Prediction::kEpsilon;
  if (name == "v_prediction" || name == "v") return Prediction::kV;
  fail("unknown prediction type '{}' (known: epsilon, v_prediction)", name);
}

std::string to_string(Prediction p) {
  return p == Prediction::kEpsilon ? "epsilon" : "v_prediction";
}

NoiseSchedule NoiseSchedule::make(const std::string& kind, int n, double b0, double b1) {
  if (n < 2) fail("a noise schedule needs at least 2 training steps (got {})", n);
  if (!(b0 > 0 && b1 > b0 && b1 < 1))
    fail("beta range must satisfy 0 < start < end < 1 (got {}, {})", b0, b1);
  NoiseSchedule s;
  s.kind = kind;
  s.beta_start = b0;
  s.beta_end = b1;
  for (int i = 0; i < n; ++i) {
    const double f = double(i) / (n - 1);
    if (kind == "scaled_linear") {
      const double r = std::sqrt(b0) + f * (std::sqrt(b1) - std::sqrt(b0));
      s.betas.push_back(r * r);
    } else if (kind == "linear") {
      s.betas.push_back(b0 + f * (b1 - b0));
    } else {
      fail("unknown beta schedule '{}' (known: scaled_linear, linear)", kind);
    }
  }
  double prod = 1;
  for (double b : s.betas) {
    prod *= 1 - b;
    s.alphas_cumprod.push_back(prod);
  }
  return s;
}

double NoiseSchedule::alpha_bar(double t) const {
  if (t < 0) return 1.0;
  const double last = train_steps() - 1;
  if (t >= last) return alphas_cumprod.back();
  const int i = static_cast<int>(std::floor(t));
  const double w = t - i;
  return alphas_cumprod[i] * (1 - w) + alphas_cumprod[i + 1] * w;
}

double NoiseSchedule::sigma(double t) const {
  if (t < 0) return 0.0;
  // diffusers interpolates sigma (not alpha-bar) between integer timesteps.
  auto sig = [&](int i) { return std::sqrt((1 - alphas_cumprod[i]) / alphas_cumprod[i]); };
  const double last = train_steps() - 1;
  if (t >= last) return sig(train_steps() - 1);
  const int i = static_cast<int>(std::floor(t));
  const double w = t - i;
  return sig(i) * (1 - w) + sig(i + 1) * w;
}

std::vector<double> sampling_timesteps(int n, int steps, const std::string& spacing, int offset) {
  if (steps < 1 || steps > n) fail("sampling steps must be in 1..{} (got {})", n, steps);
  std::vector<double> t;
  if (spacing == "leading") {
    const int ratio = n / steps;
    for (int i = steps - 1; i >= 0; --i) t.push_back(double(i * ratio + offset));
  } else if (spacing == "trailing") {
    const double ratio = double(n) / steps;
    for (int i = 0; i < steps; ++i) t.push_back(std::round(n - i * ratio) - 1);
  } else if (spacing == "linspace") {
    for (int i = 0; i < steps; ++i)
      t.push_back((n - 1) * (1.0 - (steps == 1 ? 0.0 : double(i) / (steps - 1))));
  } else {
    fail("unknown timestep spacing '{}' (known: leading, trailing, linspace)", spacing);
  }
  for (double& v : t) v = std::min<double>(v, n - 1);
  return t;
}

namespace {

// The values a diffusers scheduler class takes for keys its config file lacks (the defaults of its
// __init__, which ConfigMixin fills in: a config saved by an old diffusers, or written by hand,
// may lack timestep_spacing, clip_sample or skip_prk_steps). Configs with no class take SD's.
struct ClassDefaults {
  const char* beta_schedule = "scaled_linear";
  double beta_start = 0.00085, beta_end = 0.012;
  const char* spacing = "leading";
  int steps_offset = 1;
  bool set_alpha_to_one = false, clip_sample = false, skip_prk_steps = true;
};

ClassDefaults class_defaults(const std::string& cls) {
  ClassDefaults d;
  if (cls != "DDIMScheduler" && cls != "EulerDiscreteScheduler" &&
      cls != "DPMSolverMultistepScheduler" && cls != "PNDMScheduler")
    return d;
  d.beta_schedule = "linear";
  d.beta_start = 0.0001;
  d.beta_end = 0.02;
  d.steps_offset = 0;
  d.spacing = cls == "DDIMScheduler" || cls == "PNDMScheduler" ? "leading" : "linspace";
  d.set_alpha_to_one = cls == "DDIMScheduler";
  d.clip_sample = cls == "DDIMScheduler";
  d.skip_prk_steps = false;
  return d;
}

// The sampler for a diffusers scheduler class, checking the settings asdm's samplers assume
// (a key the file lacks has the class's default).
void map_scheduler_class(const nlohmann::json& j, const ClassDefaults& d, SchedulerConfig& c) {
  const std::string cls = j.value("_class_name", "");
  if (cls.empty()) return;
  auto require = [&](const char* key, const nlohmann::json& want,
                     const nlohmann::json& fallback = nullptr) {
    nlohmann::json got = j.contains(key) ? j[key] : fallback;
    if (got.is_null()) {  // None: falsy where diffusers tests a flag, else its default
      if (!want.is_boolean() || !want.get<bool>()) return;
      got = false;
    }
    if (got == want || !c.sampler_error.empty()) return;
    std::string shown = got.dump();
    if (shown.size() > 40) shown = shown.substr(0, 36) + " ...";
    c.sampler_error =
        fmt::format("{} with {} = {}{} is not implemented (asdm's sampler assumes {})", cls, key,
                    shown, j.contains(key) ? "" : " (its default)", want.dump());
  };
  require("trained_betas", nullptr);
  if (cls != "PNDMScheduler") require("rescale_betas_zero_snr", false);
  if (cls == "DDIMScheduler") {
    c.sampler = "ddim";
    require("clip_sample", false, d.clip_sample);
    require("thresholding", false);
  } else if (cls == "EulerDiscreteScheduler") {
    c.sampler = "euler";
    require("use_karras_sigmas", false);
    require("use_exponential_sigmas", false);
    require("use_beta_sigmas", false);
    require("interpolation_type", "linear");
    require("timestep_type", "discrete");
    require("final_sigmas_type", "zero");
  } else if (cls == "DPMSolverMultistepScheduler") {
    c.sampler = "dpm++2m";
    require("algorithm_type", "dpmsolver++");
    require("solver_order", 2);
    require("solver_type", "midpoint");
    require("use_karras_sigmas", false);
    require("use_exponential_sigmas", false);
    require("use_beta_sigmas", false);
    require("use_lu_lambdas", false);
    require("use_flow_sigmas", false);
    require("final_sigmas_type", "zero");
    require("thresholding", false);
    require("variance_type", nullptr);
  } else if (cls == "PNDMScheduler") {
    c.sampler = "pndm";
    require("skip_prk_steps", true, d.skip_prk_steps);
  } else {
    c.sampler_error = fmt::format(
        "scheduler {} is not implemented (asdm implements DDIMScheduler, EulerDiscreteScheduler, "
        "DPMSolverMultistepScheduler, PNDMScheduler; pick one with --scheduler)",
        cls);
  }
  if (!c.sampler_error.empty()) c.sampler.clear();
}

}  // namespace

SchedulerConfig read_scheduler_config(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  SchedulerConfig c;
  try {
    if (!j.is_object()) fail("a scheduler config must be a JSON object");
    const ClassDefaults d = class_defaults(j.value("_class_name", ""));
    c.schedule = NoiseSchedule::make(
        j.value("beta_schedule", d.beta_schedule), j.value("num_train_timesteps", 1000),
        j.value("beta_start", d.beta_start), j.value("beta_end", d.beta_end));
    c.prediction = parse_prediction(j.value("prediction_type", "epsilon"));
    c.spacing = j.value("timestep_spacing", d.spacing);
    c.steps_offset = j.value("steps_offset", d.steps_offset);
    c.final_alpha_one = j.value("set_alpha_to_one", d.set_alpha_to_one);
    sampling_timesteps(c.schedule.train_steps(), 1, c.spacing,
                       c.steps_offset);  // validates the spacing
    map_scheduler_class(j, d, c);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", path, json_error_text(e.what()));
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
  return c;
}

}  // namespace asdm
