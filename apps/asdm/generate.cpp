// asdm generate: text to image with a diffusers Stable Diffusion pipeline folder (SD 1.x/2.x,
// SDXL), optionally with a student UNet in place of the pipeline's, writing PNGs and a JSON record.
#include <chrono>
#include <cstdio>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/log.h"
#include "model/runtime.h"
#include "model/sampler.h"
#include "sd/generate.h"

namespace asdm::cli {
namespace {

struct GenerateCli {
  GenerateStageOptions gen;
  int resolution = 0, threads = 0;
};

void run_generate(GenerateCli o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  ensure_device(o.gen.device);
  if (!o.gen.height) o.gen.height = o.resolution;
  if (!o.gen.width) o.gen.width = o.resolution;
  const bool tty = ::isatty(2);
  const auto started = std::chrono::steady_clock::now();
  auto progress = [&](int done, int total) {
    if (log::level() > log::Level::kInfo || (!tty && done != total)) return;
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(stderr, "%sstep %d/%d (%s)%s", tty ? "\r" : "", done, total, hms(s).c_str(),
                 done == total ? "\n" : "");
  };
  const GenerateRun r =
      generate_images(o.gen, make_run_context(argv, o.gen.device), note, progress);
  for (const auto& f : r.images) std::printf("%s\n", f.string().c_str());
  log::info("wrote {} image(s) and {}", r.images.size(), r.record.string());
}

constexpr const char* kHelp =
    R"(Text to image with a diffusers Stable Diffusion pipeline folder (model_index.json, tokenizer/,
text_encoder/, unet/, vae/, scheduler/; SDXL also tokenizer_2/ and text_encoder_2/), as diffusers'
StableDiffusionPipeline / StableDiffusionXLPipeline computes it. --unet swaps in a student UNet
(asdm build's output) to compare it with the teacher on the same prompts and noise. Image i
starts from noise seeded by (--seed, i): it is the same whatever the other prompts are.
Writes -o (several prompts: <stem>-<i>.png) and <stem>.json with the settings.)";

}  // namespace

void add_generate(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<GenerateCli>();
  auto* sub = app.add_subcommand("generate", kHelp);
  sub->add_option("--model", o->gen.model,
                  "diffusers pipeline folder, or an original single-file checkpoint (.safetensors "
                  "or torch.save's .ckpt: SD 1.x, 2.x, SDXL) with --config")
      ->required();
  sub->add_option("--config", o->gen.config,
                  "for a single-file --model: a pipeline folder of the same family whose configs, "
                  "tokenizer and "
                  "scheduler are used (its weights are not read)");
  sub->add_option("--prompt", o->gen.prompts, "prompt (repeat for several)");
  sub->add_option("--prompts", o->gen.prompts_file, "file with one prompt per line");
  sub->add_option("--negative-prompt", o->gen.negative_prompts,
                  "negative prompt (one for all, or one per prompt)");
  sub->add_option("--steps", o->gen.steps, "denoising steps")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  sub->add_option("--guidance", o->gen.guidance, "classifier-free guidance scale (<= 1: none)")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_option("--seed", o->gen.seed, "noise seed")->capture_default_str();
  sub->add_flag("--tensors", o->gen.tensors,
                "also write <stem>.safetensors: the images as float32 [B,3,H,W] in [0,1] and the "
                "final latents");
  sub->add_option(
         "--scheduler", o->gen.sampler,
         "ddim, euler, dpm++2m or pndm (default: the class in scheduler/scheduler_config.json)")
      ->check(one_of(sampler_names()));
  sub->add_option("--resolution", o->resolution,
                  "image side in pixels (default: the UNet's sample_size x 8)")
      ->check(kPositive);
  sub->add_option("--height", o->gen.height, "image height (overrides --resolution)")
      ->check(kPositive);
  sub->add_option("--width", o->gen.width, "image width (overrides --resolution)")
      ->check(kPositive);
  sub->add_option("--clip-skip", o->gen.clip_skip,
                  "text encoder layers to skip (diffusers' clip_skip)")
      ->capture_default_str()
      ->check(kNonNegative);
  sub->add_option("--unet", o->gen.unet, "a student UNet folder to use instead of the pipeline's");
  sub->add_option("--cache-plan", o->gen.cache_plan,
                  "cache_plan.json (asdm cache-plan): units reuse their branch output across the "
                  "sampler's calls as the plan says");
  add_device_options(sub, o->gen.device, o->gen.dtype);
  sub->add_flag("--channels-last", o->gen.channels_last,
                "Run the UNet in channels-last (NHWC) memory (the same images within float "
                "rounding; on this project's 2-core CPU it measured no faster)");
  sub->add_flag("--graphs", o->gen.graphs,
                "CUDA graphs: each whole denoising step (guidance batch, UNet, sampler arithmetic; "
                "PNDM: the UNet call) replayed from one graph captured at the first step, as "
                "deployed (CUDA only; not with --cache-plan)");
  add_threads_option(sub, o->threads);
  sub->add_option("-o,--output", o->gen.output, "PNG to write")
      ->capture_default_str()
      ->check(output_file());
  sub->callback([o, argv] { run_generate(*o, argv); });
}

}  // namespace asdm::cli
