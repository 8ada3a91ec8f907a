#pragma once
// Samplers with classifier-free guidance (issue 4 item 3), as diffusers computes them: DDIM
// (eta = 0), Euler (EulerDiscreteScheduler), DPM-Solver++ 2M (DPMSolverMultistepScheduler's
// defaults: order 2, midpoint, final sigma zero) and PNDM (PLMS as SD configures it,
// skip_prk_steps), on the schedule of model/noise_schedule.h. The model is a
// callback, so the same loop drives the proxy teacher, a real SD UNet, an ablated or a pruned
// student, and the profiler's sampler-loop mode.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/noise_schedule.h"

namespace at {
class Tensor;
}

namespace asdm {

struct SamplerOptions {
  std::string sampler = "ddim";  // one of sampler_names()
  int steps = 25;
  double guidance = 1.0;  // classifier-free guidance scale; 1: conditional branch only
  Prediction prediction = Prediction::kEpsilon;
  std::string spacing = "leading";  // diffusers' timestep_spacing
  int steps_offset = 1;
  bool final_alpha_one = false;  // DDIM's set_alpha_to_one (SD: false)
};

// `options` with the scheduler config's prediction type and timestep grid (spacing, steps_offset,
// set_alpha_to_one): what a pipeline or an ablation subject samples with.
SamplerOptions with_scheduler(SamplerOptions options, const SchedulerConfig& scheduler);

// The model's raw output (epsilon or v) for a batch x at timestep t.
using Denoiser = std::function<at::Tensor(const at::Tensor& x, double t)>;
// A conditional model: output for x at t under text conditioning `cond` ([B, tokens, dim]).
using ConditionalModel =
    std::function<at::Tensor(const at::Tensor& x, double t, const at::Tensor& cond)>;

// Classifier-free guidance: for guidance != 1, one model call per step on the doubled batch
// [x; x] with [uncond; cond], then uncond + g (cond - uncond); for guidance == 1, the conditional
// call alone. uncond is broadcast over the batch when it has batch 1.
Denoiser guided(ConditionalModel model, const at::Tensor& cond, const at::Tensor& uncond,
                double guidance);

// Runs the sampler from `noise` (unit Gaussian, the shape of a sample); returns the final sample.
// step_done(i, steps) after each step (progress, profiling).
at::Tensor sample(const Denoiser& model, const at::Tensor& noise, const NoiseSchedule& schedule,
                  const SamplerOptions& options,
                  const std::function<void(int, int)>& step_done = {});

// x0 and epsilon from a model output `out` (epsilon or v) for the model input x at alpha-bar a
// (DDPM scaling: for Euler, the model input is x scaled by c_in, which is that).
std::pair<at::Tensor, at::Tensor> x0_and_epsilon(const at::Tensor& x, const at::Tensor& out,
                                                 double alpha_bar, Prediction prediction);

// The initial noise of sample `index` of a run with `seed`: a unit Gaussian of `shape` ([C, H, W],
// returned as [1, C, H, W], float32, CPU) that depends on (seed, index) only, so a prompt gets the
// same noise however prompts are batched or sharded.
at::Tensor prompt_noise(const std::vector<int64_t>& shape, uint64_t seed, uint64_t index);

// The whole denoising step as one function of tensors (issue 21: a CUDA graph captures it once and
// replays it at every step). The sampler's own arithmetic, with every number that changes from step
// to step (the timestep, the schedule's coefficients) read from that step's row of a float64 table
// on the device, so the captured work is the same at every step; DPM-Solver++'s first-order first
// and last steps are its second-order formula with coefficients that make it exactly those.
// DDIM, Euler and DPM-Solver++ 2M; PNDM's first two calls differ in form (no tensor step).
//
// The model as such a step calls it: the raw output for x at the timestep `t` (a one-element
// float64 tensor on x's device).
using TensorDenoiser = std::function<at::Tensor(const at::Tensor& x, const at::Tensor& t)>;
// One step: the sample x, the previous step's data prediction (DPM-Solver++; zeros before the first
// step and for the other samplers) and the step's row -> the next sample and this step's data
// prediction.
using TensorStep = std::function<std::pair<at::Tensor, at::Tensor>(
    const at::Tensor& x, const at::Tensor& prev_x0, const at::Tensor& row)>;
bool has_tensor_step(const SamplerOptions& options);
// Throws asdm::Error for a sampler without one (naming those that have).
TensorStep tensor_step(const SamplerOptions& options, TensorDenoiser model);
// The rows of a run: [model_calls(options), 8], float64, CPU (row[0] is the timestep).
at::Tensor step_table(const NoiseSchedule& schedule, const SamplerOptions& options);
// sample() with each step through `step` (tensor_step's, or a graph of it). With the same model,
// equal to sample() bit for bit on the CPU (tested); on CUDA within rounding (a division by a host
// scalar is a multiplication by its reciprocal there).
at::Tensor sample_stepwise(const TensorStep& step, const at::Tensor& noise,
                           const NoiseSchedule& schedule, const SamplerOptions& options,
                           const std::function<void(int, int)>& step_done = {});

// "ddim", "euler", "dpm++2m", "pndm".
const std::vector<std::string>& sampler_names();
// Model calls a run of `steps` steps makes (PNDM: steps + 1).
int model_calls(const SamplerOptions& options);

// Throws asdm::Error for an unknown sampler or spacing, or steps out of range.
void validate(const SamplerOptions& options, const NoiseSchedule& schedule);

}  // namespace asdm
