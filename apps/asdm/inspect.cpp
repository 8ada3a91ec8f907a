// asdm inspect: the units of a UNet with params and MACs, from its config alone (no weights).
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "apps/asdm/commands.h"
#include "core/artifact.h"
#include "core/error.h"
#include "model/model_files.h"
#include "model/runtime.h"
#include "profiler/cost_model.h"

namespace asdm::cli {
namespace {

struct InspectOptions {
  std::string model;
  int resolution = 0;  // image pixels; 0: sample_size x vae_scale
  int vae_scale = 8;
  int batch = 1;
  int text_tokens = 77;
  std::string json_out;
};

std::string human(int64_t v) {
  if (v >= 1'000'000'000) return fmt::format("{:.2f} G", v / 1e9);
  if (v >= 1'000'000) return fmt::format("{:.2f} M", v / 1e6);
  if (v >= 1'000) return fmt::format("{:.1f} k", v / 1e3);
  return std::to_string(v);
}

void run_inspect(const InspectOptions& o, const std::vector<std::string>& argv) {
  const ModelFiles files = locate_model(o.model);
  const ArchSpec spec = load_arch(files);
  const UNetLayout layout = spec.student_layout();
  const int res = o.resolution > 0 ? o.resolution : layout.config.sample_size * o.vae_scale;
  if (o.vae_scale < 1) fail("--vae-scale must be positive, got {}", o.vae_scale);
  if (res % o.vae_scale != 0)
    fail("--resolution {} is not a multiple of the VAE factor {}", res, o.vae_scale);
  CostInput in;
  in.height = in.width = res / o.vae_scale;
  in.batch = o.batch;
  in.text_tokens = o.text_tokens;
  const CostReport report = estimate_cost(layout, spec.removed_units(), in);

  if (!o.json_out.empty()) {
    nlohmann::json j = make_artifact("inspect", 1, make_run_context(argv));
    j["model"] = o.model;
    j["resolution"] = res;
    j["vae_scale"] = o.vae_scale;
    j["macs_rule"] =
        "thop: conv and linear multiply-accumulates (no bias), LayerNorm 4 x elements; attention "
        "matmuls (QK^T, AV) in attn_macs, not in macs";
    j["removed_units"] = spec.removed_units();
    j.update(to_json(report));
    write_json_atomic(o.json_out, j);
    if (o.json_out == "-") return;
  }
  std::printf("%-52s %-17s %-9s %-12s %10s %10s %10s\n", "unit", "kind", "res", "channels",
              "params", "MACs", "attn MACs");
  for (const auto& u : report.units) {
    const std::string id = (u.parent.empty() ? "" : "  ") + u.id + (u.removed ? " (removed)" : "");
    const std::string ch = fmt::format("{}->{}", u.in_channels, u.out_channels);
    std::printf("%-52s %-17s %-9s %-12s %10s %10s %10s\n", id.c_str(),
                std::string(to_string(u.kind)).c_str(),
                fmt::format("{}x{}", u.height, u.width).c_str(), ch.c_str(),
                human(u.params).c_str(), human(u.macs).c_str(), human(u.attn_macs).c_str());
  }
  std::printf("\ntotal: %s params (%lld), %s MACs (%lld) + %s attention-matmul MACs (%lld)\n",
              human(report.params).c_str(), static_cast<long long>(report.params),
              human(report.macs).c_str(), static_cast<long long>(report.macs),
              human(report.attn_macs).c_str(), static_cast<long long>(report.attn_macs));
  std::printf(
      "input: %dx%d image (%dx%d latent), batch %d, %d text tokens; MACs counted as thop does\n",
      res, res, in.height, in.width, in.batch, in.text_tokens);
}

}  // namespace

void add_inspect(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<InspectOptions>();
  auto* sub = app.add_subcommand(
      "inspect",
      "List the UNet's units (id, kind, resolution, channels, params, MACs, attention MACs) and "
      "totals.\n"
      "Needs only the config: no weights are loaded or allocated. MACs follow thop (the counter of "
      "the\n"
      "BK-SDM paper): convolutions and linear layers without bias, LayerNorm as 4 x elements; the\n"
      "attention matmuls (QK^T and AV) are reported apart.");
  sub->add_option("--model", o->model,
                  "diffusers UNet folder, pipeline folder, config.json or asdm_arch.json")
      ->required();
  sub->add_option("--resolution", o->resolution,
                  "Image side in pixels (default: sample_size x --vae-scale)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--vae-scale", o->vae_scale, "Pixels per latent cell")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--batch", o->batch, "Batch size")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--text-tokens", o->text_tokens, "Text tokens (encoder_hidden_states length)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--json", o->json_out,
                  "Write inspect.json to FILE ('-': stdout, table suppressed)");
  sub->callback([o, argv] { run_inspect(*o, argv); });
}

}  // namespace asdm::cli
