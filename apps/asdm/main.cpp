// asdm: find and remove redundancy in Stable-Diffusion-family UNets. The CLI parses flags, calls
// library functions and prints; every error is one line on stderr and a non-zero exit.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "apps/asdm/parse_error.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "core/version.h"
#include "model/model_files.h"
#include "model/single_file.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  CLI::App app{
      "asdm: find and remove redundancy in Stable-Diffusion-family UNets (A-SDM).\n"
      "Models are diffusers UNet folders (config.json + diffusion_pytorch_model.safetensors or\n"
      ".bin), pipeline folders with a unet/ subfolder, original single-file checkpoints\n"
      "(.safetensors or .ckpt, with --config FOLDER where a command reads pipelines), or a\n"
      "bare config.json where no weights are needed."};
  app.set_version_flag("--version", std::string(asdm::version()) + " (" + asdm::git_commit() + ")");
  app.require_subcommand(1);
  // The log level takes effect where the flag stands, so that messages while the command line is
  // read (a Hugging Face cache id resolved) already follow it.
  app.add_flag_callback(
         "-q,--quiet", [] { asdm::log::set_level(asdm::log::Level::kError); }, "Print only errors")
      ->trigger_on_parse();
  app.add_flag_callback(
         "-v,--verbose", [] { asdm::log::set_level(asdm::log::Level::kDebug); },
         "Print debug messages")
      ->trigger_on_parse();
  std::string variant;
  app.add_option("--variant", variant,
                 "Read a weights variant where a folder has one, as diffusers' variant= does: with "
                 "fp16, diffusion_pytorch_model.fp16.safetensors and model.fp16.safetensors (or "
                 "their sharded index) over the plain files; the plain files where there is none")
      ->type_name("NAME");
  bool ema = false;
  app.add_flag(
      "--ema", ema,
      "Read a single-file training checkpoint's UNet from its EMA copy (model_ema.*, as in "
      "sd-v1-4-full-ema.ckpt; diffusers' extract_ema), in every command that reads one");
  app.parse_complete_callback([&] {
    asdm::set_weights_variant(variant);
    asdm::set_single_file_ema(ema);
  });
  asdm::cli::add_inspect(app, args);
  asdm::cli::add_forward(app, args);
  asdm::cli::add_generate(app, args);
  asdm::cli::add_profile(app, args);
  asdm::cli::add_proxy(app, args);
  asdm::cli::add_ablate(app, args);
  asdm::cli::add_search(app, args);
  asdm::cli::add_build(app, args);
  asdm::cli::add_latents(app, args);
  asdm::cli::add_incubate(app, args);
  asdm::cli::add_bench(app, args);
  asdm::cli::add_report(app, args);
  asdm::cli::add_export(app, args);
  asdm::cli::add_init(app, args);
  asdm::cli::add_convert(app, args);
  asdm::cli::add_cache_plan(app, args);
  asdm::cli::add_eval(app, args);
  asdm::cli::add_demo(app, args);
  asdm::cli::resolve_hub_ids(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "asdm: error: %s (see --help)\n",
                 asdm::cli::parse_error_text(app, e).c_str());
    return 2;
  } catch (const asdm::Error& e) {
    std::fprintf(stderr, "asdm: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    // Libtorch and internal errors: still one line, with what we know.
    std::string what = asdm::json_error_text(e.what());  // a JSON error some reader let through
    if (auto nl = what.find('\n'); nl != std::string::npos) what = what.substr(0, nl);
    std::fprintf(stderr, "asdm: error: %s\n", what.c_str());
    return 2;
  }
  return 0;
}
