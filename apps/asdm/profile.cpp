// asdm profile: per-unit latency of one UNet forward with a latency backend (timer, cuda-events,
// cupti), as a table sorted by time and as profile.json, optionally with a Chrome trace.
#include <algorithm>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "model/checkpoint.h"
#include "model/cuda_graph.h"
#include "model/runtime.h"
#include "model/sampler.h"
#include "profiler/pipeline_profile.h"
#include "profiler/profile.h"
#include "profiler/profile_io.h"
#include "profiler/profile_stage.h"
#include "sd/sd_pipeline.h"

namespace asdm::cli {
namespace {

struct ProfileCliOptions {
  std::string model, output, trace, config;
  std::string device = "cpu", dtype = "fp32";
  int threads = 0;
  bool channels_last = false;
  ProfileOptions profile;
  // --pipeline: the whole text-to-image pipeline, split by stage.
  bool pipeline = false;
  int steps = 25;
  std::vector<std::string> prompts;
  bool runs_given = false, warmup_given = false, sampler_given = false;
};

void run_pipeline_profile(const ProfileCliOptions& o, const std::vector<std::string>& argv) {
  if (!o.trace.empty())
    fail("--trace is for UNet profiles; a --pipeline profile has no per-unit trace");
  auto pipe = SdPipeline::load(o.model, o.device, o.dtype, o.config);
  pipe->unet().set_channels_last(o.channels_last);
  PipelineProfileOptions po;
  po.runs = o.runs_given ? o.profile.runs : 3;
  po.warmup = o.warmup_given ? o.profile.warmup : 1;
  auto& g = po.generate;
  g.prompts = o.prompts.empty()
                  ? std::vector<std::string>{"a photo of an astronaut riding a horse on mars"}
                  : o.prompts;
  if (o.profile.batch > 1 && g.prompts.size() == 1) g.prompts.assign(o.profile.batch, g.prompts[0]);
  g.steps = o.steps;
  g.guidance = o.profile.guidance;
  g.sampler = o.sampler_given ? o.profile.sampler : "";
  g.height = g.width = o.profile.resolution;
  g.seed = o.profile.seed;
  g.graphs = o.profile.graphs;
  po.progress = count_progress("profiling the pipeline: run");
  PipelineProfileArtifact a;
  a.profile = profile_pipeline(*pipe, po);
  a.header = ArtifactHeader::make(a.kArtifact, a.kSchemaVersion, make_run_context(argv, o.device));
  a.model = o.model;
  a.prompts = g.prompts;
  a.write(o.output);
  std::fputs(pipeline_profile_table(a, po.warmup).c_str(), stdout);
  log::info("wrote {}", o.output);
}

void run_profile(ProfileCliOptions o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  ensure_device(o.device);
  if (o.profile.graphs) require_graphs(o.device);
  if (o.pipeline) return run_pipeline_profile(o, argv);
  o.profile.progress = count_progress("profiling: forward");
  const ProfileArtifact a = profile_model(o.model, o.profile, o.device, o.dtype,
                                          make_run_context(argv, o.device), o.channels_last);
  if (!a.report.fallback_note.empty()) log::warn("{}", a.report.fallback_note);
  a.write(o.output);
  if (!o.trace.empty()) write_chrome_trace(a.report, o.trace);
  std::fputs(profile_table(a.report).c_str(), stdout);
  log::info("wrote {}{}", o.output, o.trace.empty() ? "" : " and " + o.trace);
}

constexpr const char* kHelp =
    R"(Measure every unit's latency in a UNet forward: warm-up, then --runs observed forwards alternated
with as many unobserved ones timed the same way, so the profile reports its own overhead. Self time
excludes nested units; coverage is the time attributed to units over the whole forward. A warning
follows the table when the units' medians add up to under 25% or over 120% of the forward's: a busy
machine stalls some unit in each forward, so the medians disagree; profile again when it is quiet.
A bare config runs with random weights (latency does not depend on them).
Backends:
  timer        steady clock at unit boundaries. On CUDA it synchronises the device at every
               boundary, which is intrusive (it stops the CPU from running ahead of the GPU).
  cuda-events  a CUDA event pair per unit on the default stream, no synchronisation inside the
               forward; times include idle gaps on the stream.
  cupti        CUPTI kernel, memcpy and memset records joined to units (a callback on the
               launch calls notes which unit each launch came from): GPU busy time per unit,
               kernel counts and top kernels; the trace gets a GPU track. CUPTI's kernel
               timestamps cost GPU time per kernel (on an H100 about 7-12% of an SD 1.5
               forward at batch 8, more when launch-bound; Blackwell's hardware trace is used
               where CUPTI accepts it): use cuda-events for latency, cupti for what runs inside
               a unit. CUPTI stays attached once started, so its unobserved forwards run first.
               Falls back to cuda-events when CUPTI is unavailable or another CUPTI client
               (nsys, torch.profiler) is attached.
  cuda-events,cupti  both views in one profile.json: unit times, coverage and overhead from CUDA
               events, then a separate CUPTI pass (min(--runs, 5) forwards) fills each unit's
               kernel fields and the device activity (kernel_backend: "cupti").
The CUDA backends fall back to timer on the CPU, with a one-line note.
With --pipeline, --model is a diffusers pipeline folder and each run is a whole text-to-image
generation (text encoder, --steps UNet steps with guidance, VAE decoder), timed per stage with the
share of each (on CUDA the device is synchronised at stage boundaries); writes pipeline_profile.json
data to -o. Defaults there: 3 runs after 1 warm-up, the scheduler of the pipeline's config.)";

}  // namespace

void add_profile(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<ProfileCliOptions>();
  auto* sub = app.add_subcommand("profile", kHelp);
  sub->add_option("--model", o->model,
                  "diffusers UNet folder, pipeline folder, config.json, asdm_arch.json or a "
                  "single-file checkpoint (.safetensors or .ckpt)")
      ->required();
  sub->add_option("-o,--output", o->output, "profile.json to write ('-': stdout)")
      ->required()
      ->check(output_file());
  sub->add_option("--backend", o->profile.backend,
                  "Latency backend: timer, cuda-events, cupti, or cuda-events,cupti (both views)")
      ->capture_default_str()
      ->check(one_of(profile_backend_names()));
  add_device_options(sub, o->device, o->dtype);
  sub->add_option("--resolution", o->profile.resolution,
                  "Image side in pixels (default: sample_size x 8)")
      ->check(kPositive);
  sub->add_option("--batch", o->profile.batch, "Batch size")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--text-tokens", o->profile.text_tokens, "Text tokens")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--runs", o->profile.runs, "Timed forwards")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--warmup", o->profile.warmup, "Untimed warm-up forwards")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_option("--sampler-steps", o->profile.sampler_steps,
                  "Sampler-loop mode: time K denoising steps per run as a pipeline runs them (0: "
                  "single forwards);\n"
                  "unit times are then per UNet call")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_option(
         "--guidance", o->profile.guidance,
         "Sampler-loop mode: classifier-free guidance scale (not 1: the UNet batch is doubled)")
      ->capture_default_str();
  sub->add_option("--sampler", o->profile.sampler,
                  "Sampler-loop mode: ddim, euler, dpm++2m or pndm")
      ->capture_default_str()
      ->check(one_of(sampler_names()));
  sub->add_option("--threads", o->threads, "Intra-op CPU threads (0: libtorch's default)")
      ->capture_default_str();
  sub->add_option("--trace", o->trace,
                  "Also write a Chrome trace-event JSON (Perfetto, chrome://tracing)");
  sub->add_flag(
      "--graphs", o->profile.graphs,
      "CUDA graphs: capture the forward once and replay it, as deployed; units are timed "
      "by CUDA events inside the graph (the backend defaults to cuda-events). With "
      "--pipeline: each denoising step (UNet call and sampler arithmetic) replayed from one graph");
  sub->add_flag("--channels-last", o->channels_last,
                "Run the UNet in channels-last (NHWC) memory, recorded in the profile (asdm search "
                "--measure then measures its candidates the same way). On this project's 2-core "
                "CPU it measured no faster (README, 'Channels-last memory'); cuDNN's fp16 "
                "convolutions are NHWC-native");
  sub->add_flag("--pipeline", o->pipeline,
                "Profile the whole pipeline of a pipeline folder, split by stage");
  sub->add_option(
      "--config", o->config,
      "--pipeline with a single-file checkpoint as --model: the pipeline folder with its configs");
  sub->add_option("--steps", o->steps, "--pipeline: denoising steps")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--prompt", o->prompts,
                  "--pipeline: prompt (repeat for a batch; default: one SD prompt)");
  sub->add_option("--seed", o->profile.seed, "Seed of the inputs / initial noise")
      ->capture_default_str();
  sub->callback([o, argv, sub] {
    o->runs_given = sub->count("--runs") > 0;
    o->warmup_given = sub->count("--warmup") > 0;
    o->sampler_given = sub->count("--sampler") > 0;
    if (o->profile.graphs && !sub->count("--backend")) o->profile.backend = "cuda-events";
    if (!o->pipeline && (sub->count("--steps") || sub->count("--prompt") || sub->count("--config")))
      fail(
          "--steps, --prompt and --config are --pipeline options (a UNet profile's sampler loop "
          "takes "
          "--sampler-steps)");
    run_profile(*o, argv);
  });
}

}  // namespace asdm::cli
