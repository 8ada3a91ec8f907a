// asdm latents: a training set for asdm incubate on a real pipeline, from a folder of images with
// captions, encoded by the pipeline's own VAE and text encoders (incubation/latent_dataset.h).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "incubation/latent_dataset.h"
#include "model/runtime.h"
#include "model/unet.h"
#include "sd/sd_pipeline.h"
#include "sd/vae.h"

namespace asdm::cli {
namespace {

struct LatentsCli {
  std::string model, config, images, output, device = "cpu", dtype = "fp32";
  int resolution = 0, batch = 4, threads = 0;
};

void run_latents(const LatentsCli& o) {
  set_threads(o.threads);
  ensure_device(o.device);
  const auto items =
      list_image_captions(o.images);  // fail on the folder before loading the pipeline
  const auto pipe = SdPipeline::load(o.model, o.device, o.dtype, o.config);
  const int resolution = o.resolution > 0
                             ? o.resolution
                             : pipe->unet().spec().teacher.sample_size * pipe->vae().downscale();
  log::info("encoding {} images at {}x{} with {}", items.size(), resolution, resolution, o.model);
  TensorMap t = encode_latent_dataset(*pipe, items, resolution, o.batch, count_progress("encoded"));
  std::string prompts = "[";
  for (size_t i = 0; i < items.size(); ++i)
    prompts += (i ? "," : "") + nlohmann::json(items[i].caption).dump();
  write_tensors(o.output, t, {{"format", "pt"}, {"prompts", prompts + "]"}, {"source", o.images}});
  log::info("wrote {}: latents {}, encoder_hidden_states {}", o.output,
            shape_string(t.at("latents").sizes().vec()),
            shape_string(t.at("encoder_hidden_states").sizes().vec()));
}

}  // namespace

void add_latents(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<LatentsCli>();
  auto* sub = app.add_subcommand("latents",
                                 "Encode a folder of images with captions (x.png + x.txt; .jpg and "
                                 ".bmp too) into the latents file\n"
                                 "asdm incubate --data trains on: each image resized (shorter "
                                 "side) and centre-cropped to --resolution,\n"
                                 "encoded by the pipeline's VAE (the mean, times its scaling "
                                 "factor), each caption by its text\n"
                                 "encoders (SDXL: also the pooled embedding and the original-size "
                                 "/ crop ids). The captions go in the\n"
                                 "file's metadata ('prompts').");
  sub->add_option("--model", o->model,
                  "diffusers pipeline folder (or single-file checkpoint with --config)")
      ->required();
  sub->add_option("--config", o->config,
                  "pipeline folder with the configs of a single-file --model");
  sub->add_option("--images", o->images, "folder of images with <stem>.txt captions")->required();
  sub->add_option("--resolution", o->resolution,
                  "image side (default: the UNet's sample_size x the VAE's factor)")
      ->check(kPositive);
  sub->add_option("--batch", o->batch, "images per VAE batch")
      ->capture_default_str()
      ->check(kPositive);
  add_device_options(sub, o->device, o->dtype);
  add_threads_option(sub, o->threads);
  sub->add_option("-o,--output", o->output, "latents.safetensors to write")
      ->required()
      ->check(output_file());
  sub->callback([o] { run_latents(*o); });
  (void)argv;
}

}  // namespace asdm::cli
