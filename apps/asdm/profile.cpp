// asdm profile: per-unit latency of one UNet forward with a latency backend (timer, cuda-events,
// cupti), as a table sorted by time and as profile.json, optionally with a Chrome trace.
#include <algorithm>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "model/checkpoint.h"
#include "model/runtime.h"
#include "model/sampler.h"
#include "model/sd_pipeline.h"
#include "profiler/pipeline_profile.h"
#include "profiler/profile.h"

namespace asdm::cli {
namespace {

struct ProfileCliOptions {
  std::string model, output, trace, config;
  std::string device = "cpu", dtype = "fp32";
  int threads = 0;
  ProfileOptions profile;
  // --pipeline: the whole text-to-image pipeline, split by stage.
  bool pipeline = false;
  int steps = 25;
  std::vector<std::string> prompts;
  bool runs_given = false, warmup_given = false, sampler_given = false;
};

void run_pipeline_profile(const ProfileCliOptions& o, const std::vector<std::string>& argv) {
  if (!o.trace.empty()) fail("--trace is for UNet profiles; a --pipeline profile has no per-unit trace");
  auto pipe = SdPipeline::load(o.model, o.device, o.dtype, o.config);
  PipelineProfileOptions po;
  po.runs = o.runs_given ? o.profile.runs : 3;
  po.warmup = o.warmup_given ? o.profile.warmup : 1;
  auto& g = po.generate;
  g.prompts = o.prompts.empty() ? std::vector<std::string>{"a photo of an astronaut riding a horse on mars"} : o.prompts;
  if (o.profile.batch > 1 && g.prompts.size() == 1) g.prompts.assign(o.profile.batch, g.prompts[0]);
  g.steps = o.steps;
  g.guidance = o.profile.guidance;
  g.sampler = o.sampler_given ? o.profile.sampler : "";
  g.height = g.width = o.profile.resolution;
  g.seed = o.profile.seed;
  po.progress = count_progress("profiling the pipeline: run");
  const PipelineProfile r = profile_pipeline(*pipe, po);
  nlohmann::json j = make_artifact("pipeline_profile", 1, make_run_context(argv, o.device));
  j["model"] = o.model;
  j["prompts"] = g.prompts;
  j.update(to_json(r));
  write_json_atomic(o.output, j);

  std::printf("%-14s %12s %10s %10s %7s\n", "stage", "median ms", "p10", "p90", "share");
  auto row = [&](const char* name, const Summary& s) {
    std::printf("%-14s %12.2f %10.2f %10.2f %6.1f%%\n", name, s.median, s.p10, s.p90,
                100 * s.median / r.total_ms.median);
  };
  row("text_encoder", r.text_encoder_ms);
  row("unet", r.unet_ms);
  row("vae", r.vae_ms);
  row("other", r.other_ms);
  row("total", r.total_ms);
  std::printf("\n%s, %dx%d, batch %d, %d %s steps (%d UNet calls of %.2f ms median, batch %d), guidance %g, %s %s; "
              "%d runs after %d warm-up\n",
              o.model.c_str(), r.width, r.height, r.batch, r.steps, r.sampler.c_str(), r.unet_calls,
              r.unet_call_ms.median, r.guidance > 1 ? 2 * r.batch : r.batch, r.guidance, r.device.c_str(),
              r.dtype.c_str(), r.total_ms.n, po.warmup);
  log::info("wrote {}", o.output);
}

void run_profile(ProfileCliOptions o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  ensure_device(o.device);
  if (o.pipeline) return run_pipeline_profile(o, argv);
  profile_latent_side(load_arch(locate_model(o.model)).student_config(), o.profile);  // fail before loading
  LoadOptions lo;
  lo.device = o.device;
  lo.dtype = o.dtype;
  lo.allow_random_weights = true;  // latency does not depend on the weights' values
  auto unet = load_unet(o.model, lo);
  o.profile.progress = count_progress("profiling: forward");
  const ProfileReport r = profile_unet(*unet, o.profile);
  if (!r.fallback_note.empty()) log::warn("{}", r.fallback_note);

  nlohmann::json j = make_artifact("profile", 1, make_run_context(argv, o.device));
  j["model"] = o.model;
  j.update(to_json(r));
  write_json_atomic(o.output, j);
  if (!o.trace.empty()) write_json_atomic(o.trace, chrome_trace(r));

  std::vector<const UnitProfile*> rows;
  for (const auto& u : r.units) rows.push_back(&u);
  std::stable_sort(rows.begin(), rows.end(),
                   [](auto* a, auto* b) { return a->exclusive_ms.median > b->exclusive_ms.median; });
  std::printf("%-50s %-17s %10s %10s %7s %10s\n", "unit (by self time)", "kind", "self ms", "incl ms", "share",
              "ms/GMAC");
  for (const auto* u : rows) {
    const double share = u->exclusive_ms.median / r.forward_ms.median;
    const std::string per_gmac =
        u->macs > 0 ? fmt::format("{:.3f}", u->inclusive_ms.median / (u->macs / 1e9)) : std::string("-");
    std::printf("%-50s %-17s %10.2f %10.2f %6.1f%% %10s\n", u->id.c_str(), std::string(to_string(u->kind)).c_str(),
                u->exclusive_ms.median, u->inclusive_ms.median, 100 * share, per_gmac.c_str());
  }
  if (r.sampler_steps > 0)
    std::printf("\nsampler loop: %d %s steps, guidance %g, UNet batch %d; unit times are per UNet call, 'forward' is "
                "the whole loop",
                r.sampler_steps, r.sampler.c_str(), r.guidance, r.unet_batch);
  std::printf("\n%s backend; forward: median %.2f ms (p10 %.2f, p90 %.2f) over %d runs; unobserved %.2f ms; "
              "overhead %.1f%%; coverage %.2f%%\n",
              r.backend.c_str(), r.forward_ms.median, r.forward_ms.p10, r.forward_ms.p90, r.forward_ms.n,
              r.unobserved_ms.median, 100 * r.overhead, 100 * r.coverage);
  if (r.backend == "cupti")
    std::printf("device activity: %.2f ms per forward in %lld kernels/copies (%lld not inside any unit); "
                "%lld records dropped\n",
                r.device_ms.median, static_cast<long long>(r.activities), static_cast<long long>(r.unattributed),
                static_cast<long long>(r.dropped));
  if (!r.backend_detail.empty()) std::printf("%s\n", r.backend_detail.c_str());
  log::info("wrote {}{}", o.output, o.trace.empty() ? "" : " and " + o.trace);
}

}  // namespace

void add_profile(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<ProfileCliOptions>();
  auto* sub = app.add_subcommand(
      "profile",
      "Measure every unit's latency in a UNet forward: warm-up, then --runs observed forwards alternated\n"
      "with as many unobserved ones timed the same way, so the profile reports its own overhead. Self time\n"
      "excludes nested units; coverage is the time attributed to units over the whole forward. A bare\n"
      "config runs with random weights (latency does not depend on them).\n"
      "Backends:\n"
      "  timer        steady clock at unit boundaries. On CUDA it synchronises the device at every\n"
      "               boundary, which is intrusive (it stops the CPU from running ahead of the GPU).\n"
      "  cuda-events  a CUDA event pair per unit on the default stream, no synchronisation inside the\n"
      "               forward; times include idle gaps on the stream.\n"
      "  cupti        CUPTI kernel, memcpy and memset records joined to units (a callback on the\n"
      "               launch calls notes which unit each launch came from): GPU busy time per unit,\n"
      "               kernel counts and top kernels; the trace gets a GPU track. CUPTI's kernel\n"
      "               timestamps cost GPU time per kernel (on an H100 about 7-12% of an SD 1.5\n"
      "               forward at batch 8, more when launch-bound; Blackwell's hardware trace is used\n"
      "               where CUPTI accepts it): use cuda-events for latency, cupti for what runs inside\n"
      "               a unit. CUPTI stays attached once started, so its unobserved forwards run first.\n"
      "               Falls back to cuda-events when CUPTI is unavailable or another CUPTI client\n"
      "               (nsys, torch.profiler) is attached.\n"
      "The CUDA backends fall back to timer on the CPU, with a one-line note.\n"
      "With --pipeline, --model is a diffusers pipeline folder and each run is a whole text-to-image\n"
      "generation (text encoder, --steps UNet steps with guidance, VAE decoder), timed per stage with the\n"
      "share of each (on CUDA the device is synchronised at stage boundaries); writes pipeline_profile.json\n"
      "data to -o. Defaults there: 3 runs after 1 warm-up, the scheduler of the pipeline's config.");
  sub->add_option("--model", o->model, "diffusers UNet folder, pipeline folder, config.json or asdm_arch.json")
      ->required();
  sub->add_option("-o,--output", o->output, "profile.json to write ('-': stdout)")->required();
  sub->add_option("--backend", o->profile.backend, "Latency backend: timer, cuda-events or cupti")
      ->capture_default_str()
      ->check(CLI::IsMember(latency_backend_names()));
  add_device_options(sub, o->device, o->dtype);
  sub->add_option("--resolution", o->profile.resolution, "Image side in pixels (default: sample_size x 8)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--batch", o->profile.batch, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--text-tokens", o->profile.text_tokens, "Text tokens")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--runs", o->profile.runs, "Timed forwards")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--warmup", o->profile.warmup, "Untimed warm-up forwards")->capture_default_str()->check(CLI::NonNegativeNumber);
  sub->add_option("--sampler-steps", o->profile.sampler_steps,
                  "Sampler-loop mode: time K denoising steps per run as a pipeline runs them (0: single forwards);\n"
                  "unit times are then per UNet call")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--guidance", o->profile.guidance,
                  "Sampler-loop mode: classifier-free guidance scale (not 1: the UNet batch is doubled)")
      ->capture_default_str();
  sub->add_option("--sampler", o->profile.sampler, "Sampler-loop mode: ddim, euler, dpm++2m or pndm")
      ->capture_default_str()
      ->check(CLI::IsMember(sampler_names()));
  sub->add_option("--threads", o->threads, "Intra-op CPU threads (0: libtorch's default)")->capture_default_str();
  sub->add_option("--trace", o->trace, "Also write a Chrome trace-event JSON (Perfetto, chrome://tracing)");
  sub->add_flag("--pipeline", o->pipeline, "Profile the whole pipeline of a pipeline folder, split by stage");
  sub->add_option("--config", o->config,
                  "--pipeline with a single-file checkpoint as --model: the pipeline folder with its configs");
  sub->add_option("--steps", o->steps, "--pipeline: denoising steps")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--prompt", o->prompts, "--pipeline: prompt (repeat for a batch; default: one SD prompt)");
  sub->add_option("--seed", o->profile.seed, "Seed of the inputs / initial noise")->capture_default_str();
  sub->callback([o, argv, sub] {
    o->runs_given = sub->count("--runs") > 0;
    o->warmup_given = sub->count("--warmup") > 0;
    o->sampler_given = sub->count("--sampler") > 0;
    if (!o->pipeline && (sub->count("--steps") || sub->count("--prompt") || sub->count("--config")))
      fail("--steps, --prompt and --config are --pipeline options (a UNet profile's sampler loop takes "
           "--sampler-steps)");
    run_profile(*o, argv);
  });
}

}  // namespace asdm::cli
