// asdm inspect: the units of a UNet with params and MACs, from its config alone (no weights).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "model/runtime.h"
#include "profiler/inspect.h"

namespace asdm::cli {
namespace {

struct InspectCli {
  InspectOptions inspect;
  std::string json_out;
};

void run_inspect(const InspectCli& o, const std::vector<std::string>& argv) {
  const InspectArtifact a = inspect_model(o.inspect, make_run_context(argv));
  if (!o.json_out.empty()) {
    a.write(o.json_out);
    if (o.json_out == "-") return;
  }
  std::fputs(inspect_table(a).c_str(), stdout);
}

}  // namespace

void add_inspect(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<InspectCli>();
  auto* sub = app.add_subcommand(
      "inspect",
      "List the UNet's units (id, kind, resolution, channels, params, MACs, attention MACs) and "
      "totals.\n"
      "Needs only the config: no weights are loaded or allocated. MACs follow thop (the counter of "
      "the\n"
      "BK-SDM paper): convolutions and linear layers without bias, LayerNorm as 4 x elements; the\n"
      "attention matmuls (QK^T and AV) are reported apart.");
  sub->add_option("--model", o->inspect.model,
                  "diffusers UNet folder, pipeline folder, config.json, asdm_arch.json or a "
                  "single-file checkpoint (.safetensors or .ckpt)")
      ->required();
  sub->add_option("--resolution", o->inspect.resolution,
                  "Image side in pixels (default: sample_size x --vae-scale)")
      ->check(kPositive);
  sub->add_option("--vae-scale", o->inspect.vae_scale, "Pixels per latent cell")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--batch", o->inspect.batch, "Batch size")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--text-tokens", o->inspect.text_tokens,
                  "Text tokens (encoder_hidden_states length)")
      ->capture_default_str()
      ->check(kPositive);
  sub->add_option("--json", o->json_out,
                  "Write inspect.json to FILE ('-': stdout, table suppressed)")
      ->check(output_file());
  sub->callback([o, argv] { run_inspect(*o, argv); });
}

}  // namespace asdm::cli
