#include "proxy/train.h"

#include <chrono>
#include <fstream>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "core/run_files.h"
#include "model/module_io.h"
#include "proxy/pipeline.h"

namespace asdm::proxy {

namespace fs = std::filesystem;

namespace {

nlohmann::json options_json(const TrainOptions& o) {
  return {{"world", o.world},
          {"steps", o.steps},
          {"batch", o.batch},
          {"lr", o.lr},
          {"warmup", o.warmup},
          {"weight_decay", o.weight_decay},
          {"grad_clip", o.grad_clip},
          {"cond_drop", o.cond_drop},
          {"prediction", o.prediction},
          {"seed", o.seed},
          {"checkpoint_every", o.checkpoint_every}};
}

std::vector<at::Tensor> parameters(ProxyPipeline& p) {
  auto a = p.unet->module().parameters();
  auto b = p.text_encoder->module().parameters();
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TensorMap weights(const ProxyPipeline& p) {
  TensorMap t = module_tensors(p.unet->module(), "unet.");
  t.merge(module_tensors(p.text_encoder->module(), "text_encoder."));
  return t;
}

void set_weights(ProxyPipeline& p, const TensorMap& t, const fs::path& file) {
  load_module_tensors(p.unet->module(), t, "checkpoint weights " + file.string(), "unet.");
  load_module_tensors(p.text_encoder->module(), t, "checkpoint weights " + file.string(),
                      "text_encoder.");
}

void save_checkpoint(const fs::path& out, int step, const ProxyPipeline& p,
                     torch::optim::AdamW& opt, const TrainOptions& o) {
  const fs::path tmp = out / "checkpoint.tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  write_tensors(tmp / "weights.safetensors", weights(p));
  torch::save(opt, (tmp / "optimizer.pt").string());
  write_json_atomic(tmp / "state.json", {{"step", step}, {"options", options_json(o)}});
  replace_folder(tmp, out / "checkpoint");
}

}  // namespace

int train_proxy(const fs::path& out, const TrainOptions& o, bool resume,
                const std::function<void(const StepLog&)>& on_step) {
  if (o.steps < 1 || o.batch < 1 || o.lr <= 0 || o.checkpoint_every < 1 || o.cond_drop < 0 ||
      o.cond_drop >= 1)
    fail(
        "training needs steps >= 1, batch >= 1, lr > 0, checkpoint_every >= 1 and 0 <= cond_drop < "
        "1");
  const WorldSpec world = world_spec(o.world);
  const Prediction prediction = parse_prediction(o.prediction);
  const fs::path ckpt = out / "checkpoint";
  int start = 0;
  if (fs::exists(ckpt / "state.json") && !resume)
    fail(
        "{} holds a training run (checkpoint at step {}); pass --resume to continue it or choose "
        "another --out",
        out.string(), read_json_file(ckpt / "state.json").value("step", 0));
  if (resume && !fs::exists(ckpt / "state.json"))
    fail("nothing to resume in {} (no checkpoint/state.json)", out.string());

  ProxyPipeline p = ProxyPipeline::create(world, o.seed);
  p.scheduler.prediction = prediction;
  auto params = parameters(p);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  if (resume) {
    const auto state = read_json_file(ckpt / "state.json");
    const auto saved = state.at("options");
    for (const char* k : {"world", "batch", "seed", "prediction"})
      if (saved.at(k) != options_json(o).at(k))
        fail("--resume with {} = {} but the checkpoint was made with {}", k,
             options_json(o).at(k).dump(), saved.at(k).dump());
    start = state.at("step").get<int>();
    set_weights(p, read_tensors(ckpt / "weights.safetensors"), ckpt / "weights.safetensors");
    torch::load(opt, (ckpt / "optimizer.pt").string());
    log::info("resuming {} at step {}", out.string(), start);
  }
  fs::create_directories(out);
  write_json_atomic(out / "train_options.json", options_json(o));
  const fs::path log_path = out / "train.jsonl";
  if (resume)
    truncate_json_lines(log_path, "step", start);  // what came after the checkpoint is redone
  else
    fs::remove(log_path);
  std::ofstream log_file(log_path, std::ios::app);

  const auto ab =
      torch::tensor(p.scheduler.schedule.alphas_cumprod, torch::kFloat64).to(torch::kFloat32);
  p.unet->module().train();
  p.text_encoder->module().train();
  const auto t0 = std::chrono::steady_clock::now();
  int step = start;
  while (step < o.steps) {
    ++step;
    // Everything random in this step is a function of (seed, step).
    auto gen =
        at::make_generator<at::CPUGeneratorImpl>(o.seed * 0x9e3779b97f4a7c15ull + uint64_t(step));
    SplitMix64 drop(o.seed ^ (uint64_t(step) << 20));
    std::vector<std::vector<uint8_t>> images;
    std::vector<std::string> captions;
    for (int i = 0; i < o.batch; ++i) {
      Example e = make_example(world, o.seed, uint64_t(step - 1) * o.batch + i);
      images.push_back(std::move(e.pixels));
      captions.push_back(drop.uniform() < o.cond_drop ? std::string() : e.caption);
    }
    const at::Tensor x0 = p.to_latent(images);
    const at::Tensor noise = torch::randn(x0.sizes(), gen, x0.options());
    const at::Tensor t =
        torch::randint(0, p.scheduler.schedule.train_steps(), {o.batch}, gen, torch::kInt64);
    const at::Tensor a = ab.index({t}).view({-1, 1, 1, 1});
    const at::Tensor xt = a.sqrt() * x0 + (1 - a).sqrt() * noise;
    const at::Tensor target =
        prediction == Prediction::kV ? a.sqrt() * noise - (1 - a).sqrt() * x0 : noise;

    const double lr = o.lr * std::min(1.0, double(step) / std::max(1, o.warmup));
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    opt.zero_grad();
    const auto [hidden, pooled] = p.encode(captions);
    AddedConditions added;
    added.class_labels = &pooled;
    const at::Tensor pred = p.unet->forward(xt, t, hidden, added);
    const at::Tensor loss = torch::mse_loss(pred, target);
    loss.backward();
    const double gnorm = torch::nn::utils::clip_grad_norm_(params, o.grad_clip);
    opt.step();

    StepLog s;
    s.step = step;
    s.steps = o.steps;
    s.loss = loss.item<double>();
    if (!std::isfinite(s.loss))
      fail("training diverged at step {} (loss {}); lower --lr", step, s.loss);
    s.lr = lr;
    s.grad_norm = gnorm;
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log_file << nlohmann::json{{"step", step},
                               {"loss", s.loss},
                               {"lr", lr},
                               {"grad_norm", gnorm},
                               {"seconds", s.seconds}}
                    .dump()
             << "\n";
    log_file.flush();
    if (on_step) on_step(s);
    const bool last = step == o.steps;
    if (step % o.checkpoint_every == 0 || last) save_checkpoint(out, step, p, opt, o);
    if (step == o.stop_after) break;
  }
  // The pipeline folder, once the run is complete (also when resuming a run already at --steps,
  // which exports a checkpoint as a pipeline without training).
  if (step >= o.steps) {
    p.unet->module().eval();
    p.text_encoder->module().eval();
    p.save(out);
  }
  return step;
}

}  // namespace asdm::proxy
