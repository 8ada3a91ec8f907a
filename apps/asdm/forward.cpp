// asdm forward: one UNet forward on tensors from a safetensors file, optionally capturing the
// output of every unit and block. Users check a checkpoint with it; we use it for parity.
#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "model/capture.h"
#include "model/checkpoint.h"
#include "model/runtime.h"
#include "model/tensor_io.h"

namespace asdm::cli {
namespace {

struct ForwardOptions {
  std::string model, inputs, output;
  bool capture = false;
  std::string device = "cpu";
  std::string dtype = "float32";
  int threads = 0;
};

const at::Tensor& need(const TensorMap& m, const std::string& name, const std::string& file) {
  auto it = m.find(name);
  if (it == m.end()) fail("inputs file '{}' has no tensor named '{}'", file, name);
  return it->second;
}

void run_forward(const ForwardOptions& o) {
  set_threads(o.threads);
  LoadOptions lo;
  lo.device = o.device;
  lo.dtype = o.dtype;
  auto unet = load_unet(o.model, lo);
  const TensorMap in = read_tensors(o.inputs);
  const auto dev = torch::Device(o.device);
  at::Tensor sample = need(in, "sample", o.inputs).to(dev);
  at::Tensor timestep = need(in, "timestep", o.inputs).to(dev);
  at::Tensor ehs = need(in, "encoder_hidden_states", o.inputs).to(dev);
  AddedConditions added;
  at::Tensor text_embeds, time_ids, tcond, labels;
  if (unet->layout().config.addition_embed_type == "text_time") {
    text_embeds = need(in, "text_embeds", o.inputs).to(dev);
    time_ids = need(in, "time_ids", o.inputs).to(dev);
    added.text_embeds = &text_embeds;
    added.time_ids = &time_ids;
  }
  if (in.count("timestep_cond")) {
    tcond = in.at("timestep_cond").to(dev);
    added.timestep_cond = &tcond;
  }
  if (unet->layout().config.class_embed_type == "projection") {
    labels = need(in, "class_labels", o.inputs).to(dev);
    added.class_labels = &labels;
  }
  ActivationCapture capture(/*to_cpu_float32=*/true);
  torch::InferenceMode guard;
  at::Tensor result = unet->forward(sample, timestep, ehs, added, o.capture ? &capture : nullptr);
  TensorMap& out = capture.tensors();
  out["out_sample"] = result.to(torch::kCPU, torch::kFloat32);
  write_tensors(o.output, out);
  log::info("wrote {} tensor(s) to {}", out.size(), o.output);
}

}  // namespace

void add_forward(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<ForwardOptions>();
  auto* sub = app.add_subcommand(
      "forward",
      "Run one UNet forward. The inputs file holds 'sample' [B,C,H,W], 'timestep' (scalar, [1] or "
      "[B]),\n"
      "'encoder_hidden_states' [B,T,D], and for text_time (SDXL) models 'text_embeds' and "
      "'time_ids'.\n"
      "Writes 'out_sample' (float32); with --capture also 'act.<module path>' for every unit, "
      "block,\n"
      "skip tensor and transformer internal (the naming of diffusers' named_modules()).");
  sub->add_option(
         "--model", o->model,
         "diffusers UNet or pipeline folder, or a single-file checkpoint (.safetensors or .ckpt)")
      ->required();
  sub->add_option("--inputs", o->inputs, "safetensors file with the input tensors")->required();
  sub->add_option("-o,--output", o->output, "safetensors file to write")
      ->required()
      ->check(output_file());
  sub->add_flag("--capture", o->capture, "Also write every unit's and block's output");
  sub->add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", o->dtype, "float32, float16 or bfloat16")->capture_default_str();
  add_threads_option(sub, o->threads);
  sub->callback([o, argv] { run_forward(*o); });
}

}  // namespace asdm::cli
