// asdm profile: per-unit latency of one UNet forward (CPU-timer backend), as a table sorted by time
// and as profile.json, optionally with a Chrome trace.
#include <algorithm>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "apps/asdm/commands.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "model/checkpoint.h"
#include "model/runtime.h"
#include "profiler/profile.h"

namespace asdm::cli {
namespace {

struct ProfileCliOptions {
  std::string model, output, trace;
  std::string device = "cpu", backend = "timer", dtype = "fp32";
  int threads = 0;
  ProfileOptions profile;
};

void run_profile(ProfileCliOptions o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  ensure_device(o.device);
  profile_latent_side(load_arch(locate_model(o.model)).student_config(), o.profile);  // fail before loading
  LoadOptions lo;
  lo.device = o.device;
  lo.dtype = o.dtype;
  lo.allow_random_weights = true;  // latency does not depend on the weights' values
  auto unet = load_unet(o.model, lo);
  o.profile.progress = [](int done, int total) {
    if (log::level() <= log::Level::kInfo) std::fprintf(stderr, "\rprofiling: forward %d/%d", done, total);
    if (done == total) std::fprintf(stderr, "\n");
  };
  const ProfileReport r = profile_unet(*unet, o.profile);

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
  std::printf("\nforward: median %.1f ms (p10 %.1f, p90 %.1f) over %d runs; unobserved %.1f ms; overhead %.1f%%; "
              "coverage %.1f%%\n",
              r.forward_ms.median, r.forward_ms.p10, r.forward_ms.p90, r.forward_ms.n, r.unobserved_ms.median,
              100 * r.overhead, 100 * r.coverage);
  log::info("wrote {}{}", o.output, o.trace.empty() ? "" : " and " + o.trace);
}

}  // namespace

void add_profile(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<ProfileCliOptions>();
  auto* sub = app.add_subcommand(
      "profile",
      "Measure every unit's latency in a UNet forward: warm-up, then --runs forwards with the timer\n"
      "alternated with as many unobserved ones, so the profile reports its own overhead. Self time excludes\n"
      "nested units; coverage is the time attributed to units over the whole forward. A bare config runs\n"
      "with random weights (latency does not depend on them). The timer backend reads a steady clock at\n"
      "unit boundaries; on CUDA it synchronises the device at each one, which is intrusive (the CUDA-event\n"
      "and CUPTI backends come with the rest of the profiler).");
  sub->add_option("--model", o->model, "diffusers UNet folder, pipeline folder, config.json or asdm_arch.json")
      ->required();
  sub->add_option("-o,--output", o->output, "profile.json to write ('-': stdout)")->required();
  sub->add_option("--backend", o->backend, "Latency backend")->capture_default_str()->check(CLI::IsMember({"timer"}));
  sub->add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", o->dtype, "fp32, fp16 or bf16")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "fp16", "bf16", "float32", "float16", "bfloat16"}));
  sub->add_option("--resolution", o->profile.resolution, "Image side in pixels (default: sample_size x 8)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--batch", o->profile.batch, "Batch size")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--text-tokens", o->profile.text_tokens, "Text tokens")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--runs", o->profile.runs, "Timed forwards")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--warmup", o->profile.warmup, "Untimed warm-up forwards")->capture_default_str()->check(CLI::NonNegativeNumber);
  sub->add_option("--threads", o->threads, "Intra-op CPU threads (0: libtorch's default)")->capture_default_str();
  sub->add_option("--trace", o->trace, "Also write a Chrome trace-event JSON (Perfetto, chrome://tracing)");
  sub->callback([o, argv] { run_profile(*o, argv); });
}

}  // namespace asdm::cli
