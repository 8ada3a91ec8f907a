// asdm init: a random-weight Stable Diffusion pipeline folder at a model's real sizes
// (sd/init_pipeline.h).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/dtype.h"
#include "core/log.h"
#include "sd/init_pipeline.h"

namespace asdm::cli {
namespace {

constexpr const char* kHelp =
    R"(Write a Stable Diffusion pipeline folder with random weights from a UNet config: the UNet, the
VAE, the text encoder(s) at their real sizes (CLIP ViT-L/14 for SD 1.x, OpenCLIP ViT-H/14 for SD
2.x, both ViT-L and ViT-bigG for SDXL; a small CLIP for other widths), a CLIP-format tokenizer with a
byte-level vocabulary (CLIP's own cannot be downloaded) and the scheduler (PNDM; Euler for SDXL).
asdm and diffusers' from_pretrained load it. Latency, memory and the latency predictor do not depend
on the weights' values, so such a folder stands in for a real checkpoint at SD scale; quality needs
real weights. --check N samples N guided steps at a small size and fails unless the latents stay
finite and inside fp16's range (use --device cuda --check-dtype fp16 on a GPU).
  asdm init --config configs/sd15.json -o runs/sd15-random)";

void run_init(const InitOptions& o) {
  const InitResult r = init_pipeline(o, [](const std::string& part) { log::info("{}", part); });
  std::printf("wrote %s: %s, UNet %lld, VAE %lld, text encoder %lld", r.dir.string().c_str(),
              r.family.c_str(), static_cast<long long>(r.unet_params),
              static_cast<long long>(r.vae_params), static_cast<long long>(r.text_encoder_params));
  if (r.text_encoder_2_params)
    std::printf(", text encoder 2 %lld", static_cast<long long>(r.text_encoder_2_params));
  std::printf(" parameters\n");
  if (o.check_steps > 0)
    std::printf("check: %d steps in %s on %s, max |latent| %.3g\n", o.check_steps,
                o.check_dtype.c_str(), o.device.c_str(), r.check_max_abs);
}

}  // namespace

void add_init(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<InitOptions>();
  auto* sub = app.add_subcommand("init", kHelp);
  sub->add_option("--config", o->config,
                  "UNet config.json (configs/sd15.json, sd21.json, sdxl.json, tiny.json)")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("-o,--output", o->output, "Pipeline folder to write (new)")
      ->required()
      ->check(output_folder());
  sub->add_option("--seed", o->seed, "Weights seed")->capture_default_str();
  sub->add_option("--dtype", o->dtype, "Stored weights: float32, float16 or bfloat16")
      ->check(one_of(dtype_names()));
  sub->add_option("--check", o->check_steps,
                  "Guided sampling steps of the finiteness check (0: none)")
      ->capture_default_str();
  sub->add_option("--device", o->device, "Device of the check: cpu, cuda or cuda:N")
      ->capture_default_str();
  sub->add_option("--check-dtype", o->check_dtype, "dtype of the check")
      ->capture_default_str()
      ->check(one_of(dtype_names()));
  sub->callback([o] { run_init(*o); });
  (void)argv;
}

}  // namespace asdm::cli
