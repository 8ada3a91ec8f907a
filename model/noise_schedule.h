#pragma once
// The diffusion noise schedule and the samplers' timestep grids (DESIGN.md §7; issue 4 item 3),
// shared by the proxy world and real Stable Diffusion: SD's scaled-linear beta schedule over 1000
// training steps, epsilon and v prediction, and the timesteps/sigmas that diffusers' DDIM and
// Euler schedulers use. Torch-free: plain doubles, so it is exact and cheap to test.
#include <string>
#include <vector>

namespace asdm {

enum class Prediction { kEpsilon, kV };
Prediction parse_prediction(const std::string& name);  // "epsilon" | "v_prediction"
std::string to_string(Prediction p);

struct NoiseSchedule {
  std::vector<double> betas;
  std::vector<double> alphas_cumprod;  // alpha-bar_t, t = 0 .. T-1
  // The recipe make() built it from, what a scheduler_config.json says (beta_schedule, beta_start,
  // beta_end; num_train_timesteps is train_steps()).
  std::string kind;
  double beta_start = 0, beta_end = 0;
  int train_steps() const { return static_cast<int>(betas.size()); }
  // alpha-bar for a (possibly fractional) timestep, linearly interpolated; t < 0 gives 1.
  double alpha_bar(double t) const;
  // sigma_t = sqrt((1 - alpha-bar) / alpha-bar), the Euler/k-diffusion noise level.
  double sigma(double t) const;

  // beta_schedule "scaled_linear" (SD: linspace of sqrt(beta), squared), "linear".
  static NoiseSchedule make(const std::string& beta_schedule = "scaled_linear",
                            int train_steps = 1000, double beta_start = 0.00085,
                            double beta_end = 0.012);
};

// diffusers' timestep_spacing: "leading" (with steps_offset; SD 1.x's DDIM/PNDM), "trailing",
// "linspace" (fractional timesteps, Euler's default). Descending, `steps` entries.
std::vector<double> sampling_timesteps(int train_steps, int steps,
                                       const std::string& spacing = "leading",
                                       int steps_offset = 1);

// A diffusers scheduler_config.json (DDIM, PNDM, Euler, ... share these fields): the schedule, the
// prediction type and the timestep grid's settings. Missing fields take SD 1.x's values.
struct SchedulerConfig {
  NoiseSchedule schedule = NoiseSchedule::make();
  Prediction prediction = Prediction::kEpsilon;
  std::string spacing = "leading";
  int steps_offset = 1;
  bool final_alpha_one = false;  // set_alpha_to_one
  // The asdm sampler for the config's `_class_name` (DDIMScheduler: ddim, EulerDiscreteScheduler:
  // euler, DPMSolverMultistepScheduler: dpm++2m, PNDMScheduler: pndm); "" with the reason in
  // `sampler_error` when the class or its settings are not implemented, or with both empty when
  // the config names no class.
  std::string sampler;
  std::string sampler_error;
};
// Throws asdm::Error naming the file for unreadable JSON or bad values.
SchedulerConfig read_scheduler_config(const std::string& path);

}  // namespace asdm
