// asdm generate: text to image with a diffusers Stable Diffusion pipeline folder (SD 1.x/2.x, SDXL),
// optionally with a student UNet in place of the pipeline's, writing PNGs and a JSON record.
#include <chrono>
#include <cstdio>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "model/checkpoint.h"
#include "model/runtime.h"
#include "model/sd_pipeline.h"
#include "proxy/metrics.h"

namespace asdm::cli {
namespace {

struct GenerateCliOptions {
  std::string model, config, unet, output = "out.png", prompts_file;
  std::vector<std::string> prompts, negative;
  std::string scheduler, device = "cpu", dtype = "fp32";
  int steps = 25, resolution = 0, height = 0, width = 0, clip_skip = 0, threads = 0;
  double guidance = 7.5;
  uint64_t seed = 0;
};

void run_generate(const GenerateCliOptions& o, const std::vector<std::string>& argv) {
  set_threads(o.threads);
  ensure_device(o.device);
  const std::filesystem::path out(o.output);
  if (out.extension() != ".png") fail("-o must name a .png file (got '{}')", o.output);
  GenerateOptions g;
  g.prompts = o.prompts;
  if (!o.prompts_file.empty()) {
    const auto more = proxy::read_prompts(o.prompts_file);
    g.prompts.insert(g.prompts.end(), more.begin(), more.end());
  }
  if (g.prompts.empty()) fail("give a prompt with --prompt or --prompts");
  g.negative_prompts = o.negative;
  g.steps = o.steps;
  g.guidance = o.guidance;
  g.sampler = o.scheduler;
  g.height = o.height ? o.height : o.resolution;
  g.width = o.width ? o.width : o.resolution;
  g.seed = o.seed;
  g.clip_skip = o.clip_skip;

  const auto t0 = std::chrono::steady_clock::now();
  auto pipe = SdPipeline::load(o.model, o.device, o.dtype, o.config);
  if (!o.unet.empty()) {
    LoadOptions lo;
    lo.device = o.device;
    lo.dtype = o.dtype;
    pipe->replace_unet(load_unet(o.unet, lo));
  }
  const SamplerOptions so = pipe->sampler_options(g);  // fail on sampler settings before any work
  const auto [h, w] = pipe->image_size(g);
  log::info("generating {} image(s) of {}x{} with {} ({} {} steps, guidance {}, seed {})", g.prompts.size(), w, h,
            o.unet.empty() ? o.model : o.unet, so.steps, so.sampler, so.guidance, g.seed);

  const bool tty = ::isatty(2);
  const auto started = std::chrono::steady_clock::now();
  auto progress = [&](int done, int total) {
    if (log::level() > log::Level::kInfo || (!tty && done != total)) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(stderr, "%sstep %d/%d (%s)%s", tty ? "\r" : "", done, total, hms(s).c_str(),
                 done == total ? "\n" : "");
  };
  using Clock = std::chrono::steady_clock;
  double stage_ms[3] = {0, 0, 0};
  Clock::time_point stage_start;
  const StageHook hook = [&](PipelineStage s, bool begin) {
    if (begin)
      stage_start = Clock::now();
    else
      stage_ms[int(s)] += std::chrono::duration<double, std::milli>(Clock::now() - stage_start).count();
  };
  torch::InferenceMode guard;
  const GenerateResult r = pipe->generate(g, {}, hook, progress);
  const auto files = write_pngs(r.images, out);

  nlohmann::json j = make_artifact("generate", 1, make_run_context(argv, o.device));
  j["model"] = o.model;
  j["unet"] = o.unet.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.unet);
  j["prompts"] = g.prompts;
  j["negative_prompts"] = g.negative_prompts;
  j["sampler"] = so.sampler;
  j["steps"] = so.steps;
  j["guidance"] = so.guidance;
  j["seed"] = g.seed;
  j["height"] = h;
  j["width"] = w;
  j["dtype"] = pipe->dtype();
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.filename().string());
  j["images"] = names;
  // Host-clock stage times of this one run (CUDA work is asynchronous: use asdm profile
  // --pipeline for measured stage times).
  j["stage_ms"] = {{"text_encoder", stage_ms[0]}, {"unet", stage_ms[1]}, {"vae", stage_ms[2]}};
  j["total_s"] = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto record = out.parent_path() / (out.stem().string() + ".json");
  write_json_atomic(record, j);
  for (const auto& f : files) std::printf("%s\n", f.string().c_str());
  log::info("wrote {} image(s) and {}", files.size(), record.string());
}

}  // namespace

void add_generate(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<GenerateCliOptions>();
  auto* sub = app.add_subcommand(
      "generate",
      "Text to image with a diffusers Stable Diffusion pipeline folder (model_index.json, tokenizer/,\n"
      "text_encoder/, unet/, vae/, scheduler/; SDXL also tokenizer_2/ and text_encoder_2/), as diffusers'\n"
      "StableDiffusionPipeline / StableDiffusionXLPipeline computes it. --unet swaps in a student UNet\n"
      "(asdm build's output) to compare it with the teacher on the same prompts and noise. Image i\n"
      "starts from noise seeded by (--seed, i): it is the same whatever the other prompts are.\n"
      "Writes -o (several prompts: <stem>-<i>.png) and <stem>.json with the settings.");
  sub->add_option("--model", o->model,
                  "diffusers pipeline folder, or an original single-file checkpoint (.safetensors: SD 1.x, 2.x, "
                  "SDXL) with --config")
      ->required();
  sub->add_option("--config", o->config,
                  "for a single-file --model: a pipeline folder of the same family whose configs, tokenizer and "
                  "scheduler are used (its weights are not read)");
  sub->add_option("--prompt", o->prompts, "prompt (repeat for several)");
  sub->add_option("--prompts", o->prompts_file, "file with one prompt per line");
  sub->add_option("--negative-prompt", o->negative, "negative prompt (one for all, or one per prompt)");
  sub->add_option("--steps", o->steps, "denoising steps")->capture_default_str()->check(CLI::Range(1, 1000));
  sub->add_option("--guidance", o->guidance, "classifier-free guidance scale (<= 1: none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--seed", o->seed, "noise seed")->capture_default_str();
  sub->add_option("--scheduler", o->scheduler,
                  "ddim, euler, dpm++2m or pndm (default: the class in scheduler/scheduler_config.json)")
      ->check(CLI::IsMember(sampler_names()));
  sub->add_option("--resolution", o->resolution, "image side in pixels (default: the UNet's sample_size x 8)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--height", o->height, "image height (overrides --resolution)")->check(CLI::PositiveNumber);
  sub->add_option("--width", o->width, "image width (overrides --resolution)")->check(CLI::PositiveNumber);
  sub->add_option("--clip-skip", o->clip_skip, "text encoder layers to skip (diffusers' clip_skip)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--unet", o->unet, "a student UNet folder to use instead of the pipeline's");
  add_device_options(sub, o->device, o->dtype);
  sub->add_option("--threads", o->threads, "intra-op CPU threads (0: libtorch's default)")->capture_default_str();
  sub->add_option("-o,--output", o->output, "PNG to write")->capture_default_str();
  sub->callback([o, argv] { run_generate(*o, argv); });
}

}  // namespace asdm::cli
