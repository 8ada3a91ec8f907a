// asdm convert: an original single-file checkpoint as a diffusers pipeline folder (sd/convert.h).
#include <cstdio>

#include <fmt/ranges.h>
#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/dtype.h"
#include "core/log.h"
#include "sd/convert.h"

namespace asdm::cli {
namespace {

constexpr const char* kHelp =
    R"(Write a diffusers pipeline folder from an original single-file checkpoint (SD 1.x, 2.x or
SDXL; .safetensors, or a torch.save .ckpt as the original releases ship, training checkpoints
included) and --config, a pipeline folder of the same family: the UNet, VAE and text encoder(s)
from the file, everything else (configs, tokenizers, scheduler, a safety checker) copied from the
folder. What diffusers' from_single_file(...).save_pretrained(...) writes; every diffusers-format
tool then takes it. (asdm's UNet commands take a single file, .safetensors or .ckpt, as it is,
its UNet's config read from its tensors; a file whose UNet the family's rules do not describe
comes through here.) A
training checkpoint holding the UNet twice (sd-v1-4-full-ema.ckpt) gives its EMA copy with
`asdm --ema convert ...` (diffusers' extract_ema), its training weights otherwise.
  asdm convert --model v1-5-pruned-emaonly.ckpt --config stable-diffusion-v1-5 -o sd15)";

}  // namespace

void add_convert(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<ConvertOptions>();
  auto* sub = app.add_subcommand("convert", kHelp);
  sub->add_option("--model", o->model, "Single-file checkpoint (.safetensors or .ckpt)")
      ->required();
  sub->add_option("--config", o->config,
                  "Pipeline folder of the same family whose configs, tokenizers and scheduler are "
                  "copied (its weights are not read)")
      ->required();
  sub->add_option("-o,--output", o->output, "Pipeline folder to write (new)")
      ->required()
      ->check(output_folder());
  sub->add_option("--dtype", o->dtype, "Stored weights: float32 (default), float16 or bfloat16")
      ->check(one_of(dtype_names()));
  sub->callback([o] {
    const ConvertResult r =
        convert_single_file(*o, [](const std::string& part) { log::info("{}", part); });
    std::printf("wrote %s: %s, %s from %s\n", o->output.c_str(), r.family.c_str(),
                fmt::format("{}", fmt::join(r.components, ", ")).c_str(), o->model.c_str());
  });
  (void)argv;
}

}  // namespace asdm::cli
