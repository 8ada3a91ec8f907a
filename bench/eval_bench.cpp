// Quality-metric feature extraction benchmarks (Google Benchmark): images per second through the
// FID Inception (pytorch-fid's preprocessing and features; torch-fidelity's features and logits)
// and a CLIP image tower (torchmetrics' preprocessing and embeddings). Each repetition is one
// batch.
//
//   export ASDM_BENCH_INCEPTION=w.pth ASDM_BENCH_CLIP=clip/ ASDM_BENCH_IMAGES=batch.safetensors
//   build/asdm_eval_bench
// ASDM_BENCH_IMAGES holds "images" [B, 3, H, W] uint8 (bench/compare_metrics.py writes it and the
// weights, and times torch-fidelity, pytorch-fid and torchmetrics interleaved with this binary).
// Without ASDM_BENCH_INCEPTION the Inception has random weights; without ASDM_BENCH_CLIP its case
// is skipped. Environment: ASDM_BENCH_THREADS (default 2), ASDM_BENCH_REPETITIONS (default 5),
// ASDM_BENCH_DEVICE (cpu | cuda), ASDM_BENCH_DTYPE (fp32 | fp16 | bf16).
#include <cstdlib>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "eval/clip_scorer.h"
#include "eval/inception.h"
#include "model/runtime.h"
#include "model/tensor_io.h"

namespace {

std::string env_str(const char* name, const char* def) {
  const char* v = std::getenv(name);
  return v && *v ? v : def;
}

struct Setup {
  torch::Tensor images;
  std::unique_ptr<asdm::FidInception> inception;
  std::unique_ptr<asdm::ClipScorer> clip;
  bool cuda = false;
  Setup() {
    const std::string device = env_str("ASDM_BENCH_DEVICE", "cpu"),
                      dtype = env_str("ASDM_BENCH_DTYPE", "fp32");
    asdm::ensure_device(device);
    cuda = device.rfind("cuda", 0) == 0;
    asdm::set_threads(std::atoi(env_str("ASDM_BENCH_THREADS", "2").c_str()));
    const std::string images = env_str("ASDM_BENCH_IMAGES", "");
    const int64_t batch = std::atoi(env_str("ASDM_BENCH_BATCH", "16").c_str());
    this->images = images.empty() ? torch::randint(0, 256, {batch, 3, 256, 256}, torch::kUInt8)
                                  : asdm::read_tensors(images).at("images");
    const std::string w = env_str("ASDM_BENCH_INCEPTION", "");
    inception = w.empty() ? asdm::FidInception::random(0) : asdm::FidInception::load(w);
    inception->to(device, dtype);
    const std::string c = env_str("ASDM_BENCH_CLIP", "");
    if (!c.empty()) {
      clip = asdm::ClipScorer::load(c);
      clip->to(device, dtype);
    }
  }
  void sync() const {
    if (cuda) torch::cuda::synchronize();
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void finish(benchmark::State& state, int64_t batch) {
  state.counters["images_per_s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_InceptionPytorchFid(benchmark::State& state) {
  auto& s = setup();
  torch::InferenceMode guard;
  at::Tensor pool;
  s.inception->forward(s.images, asdm::InceptionPreprocess::kPytorchFid, 2048, {&pool, nullptr});
  for (auto _ : state) {
    s.inception->forward(s.images, asdm::InceptionPreprocess::kPytorchFid, 2048, {&pool, nullptr});
    s.sync();
  }
  finish(state, s.images.size(0));
}

void BM_InceptionTorchFidelity(benchmark::State& state) {
  auto& s = setup();
  torch::InferenceMode guard;
  at::Tensor pool, logits;
  const asdm::InceptionOutputs out{&pool, &logits};
  s.inception->forward(s.images, asdm::InceptionPreprocess::kTorchFidelity, 2048, out);
  for (auto _ : state) {
    s.inception->forward(s.images, asdm::InceptionPreprocess::kTorchFidelity, 2048, out);
    s.sync();
  }
  finish(state, s.images.size(0));
}

void BM_ClipImage(benchmark::State& state) {
  auto& s = setup();
  if (!s.clip) {
    state.SkipWithError("ASDM_BENCH_CLIP is not set");
    return;
  }
  torch::InferenceMode guard;
  s.clip->image_embeddings(s.images);
  for (auto _ : state) s.clip->image_embeddings(s.images);
  finish(state, s.images.size(0));
}

int repetitions() { return std::atoi(env_str("ASDM_BENCH_REPETITIONS", "5").c_str()); }

}  // namespace

BENCHMARK(BM_InceptionPytorchFid)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->Repetitions(repetitions())
    ->UseRealTime();
BENCHMARK(BM_InceptionTorchFidelity)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->Repetitions(repetitions())
    ->UseRealTime();
BENCHMARK(BM_ClipImage)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->Repetitions(repetitions())
    ->UseRealTime();

BENCHMARK_MAIN();
