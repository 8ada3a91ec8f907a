// UNet forward benchmarks (Google Benchmark). Each repetition of the big cases is one forward, so
// the median/p10/p90 over repetitions are per-forward latencies.
//
//   build/asdm_unet_bench                                  tiny config and SD 1.5 at a 32x32 latent
//   build/asdm_unet_bench --benchmark_filter=Tiny          one case
//   ASDM_BENCH_MODEL=DIR ASDM_BENCH_INPUTS=io.safetensors build/asdm_unet_bench
//       times a saved model on saved inputs (what bench/compare_diffusers.py uses)
// Environment: ASDM_BENCH_THREADS (default 2), ASDM_BENCH_REPETITIONS (default 10),
// ASDM_BENCH_DEVICE (cpu | cuda, default cpu), ASDM_BENCH_DTYPE (float32 | float16 | bfloat16).
// On CUDA each timed forward ends with a device synchronisation.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "core/artifact.h"
#include "model/checkpoint.h"
#include "model/runtime.h"
#include "model/tensor_io.h"
#include "profiler/stats.h"

namespace {

using asdm::UNet;

int env_int(const char* name, int def) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : def;
}

std::filesystem::path source_dir() {
  const char* v = std::getenv("ASDM_SOURCE_DIR");
  if (v && *v) return v;
  return std::filesystem::path(__FILE__).parent_path().parent_path();
}

std::string env_str(const char* name, const char* def) {
  const char* v = std::getenv(name);
  return v && *v ? v : def;
}

struct Case {
  std::shared_ptr<UNet> unet;
  torch::Tensor sample, timestep, ehs, text_embeds, time_ids;
  bool cuda = false;
  // Moves the model and inputs to ASDM_BENCH_DEVICE / ASDM_BENCH_DTYPE.
  void place() {
    const std::string device = env_str("ASDM_BENCH_DEVICE", "cpu");
    unet->to(device, env_str("ASDM_BENCH_DTYPE", "float32"));
    cuda = device.rfind("cuda", 0) == 0;
    const auto dev = torch::Device(device);
    for (auto* t : {&sample, &timestep, &ehs, &text_embeds, &time_ids})
      if (t->defined()) *t = t->to(dev);
  }
};

Case synthetic(const std::string& config, int latent, int batch, int tokens) {
  torch::manual_seed(0);
  const auto cfg = asdm::load_unet_config(source_dir() / "configs" / (config + ".json"));
  Case c;
  c.unet = std::make_shared<UNet>(asdm::arch_from_config(cfg));
  c.sample = torch::randn({batch, cfg.in_channels, latent, latent});
  c.timestep = torch::full({batch}, 500, torch::kInt64);
  c.ehs = torch::randn({batch, tokens, cfg.cross_attention_dim[0]});
  c.place();
  return c;
}

Case from_files(const std::string& model, const std::string& inputs) {
  Case c;
  c.unet = asdm::load_unet(model);
  const auto io = asdm::read_tensors(inputs);
  c.sample = io.at("sample");
  c.timestep = io.at("timestep");
  c.ehs = io.at("encoder_hidden_states");
  if (io.count("text_embeds")) c.text_embeds = io.at("text_embeds");
  if (io.count("time_ids")) c.time_ids = io.at("time_ids");
  c.place();
  return c;
}

void run_forward(benchmark::State& state, std::shared_ptr<Case> c) {
  torch::InferenceMode guard;
  asdm::AddedConditions added;
  if (c->text_embeds.defined()) {
    added.text_embeds = &c->text_embeds;
    added.time_ids = &c->time_ids;
  }
  c->unet->forward(c->sample, c->timestep, c->ehs,
                   added);  // warm-up (allocator, oneDNN primitives)
  if (c->cuda) torch::cuda::synchronize();
  for (auto _ : state) {
    auto out = c->unet->forward(c->sample, c->timestep, c->ehs, added);
    if (c->cuda) torch::cuda::synchronize();
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.counters["batch"] = static_cast<double>(c->sample.size(0));
}

benchmark::internal::Benchmark* with_stats(benchmark::internal::Benchmark* b, int reps,
                                           bool one_per_rep) {
  b->Unit(benchmark::kMillisecond)->Repetitions(reps)->UseRealTime();
  if (one_per_rep) b->Iterations(1);
  b->ComputeStatistics("p10", [](const std::vector<double>& v) { return asdm::quantile(v, 0.1); });
  b->ComputeStatistics("p90", [](const std::vector<double>& v) { return asdm::quantile(v, 0.9); });
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  torch::set_num_threads(env_int("ASDM_BENCH_THREADS", 2));
  const int reps = env_int("ASDM_BENCH_REPETITIONS", 10);
  const char* model = std::getenv("ASDM_BENCH_MODEL");
  const char* inputs = std::getenv("ASDM_BENCH_INPUTS");
  if (model && *model) {
    if (!inputs || !*inputs) {
      std::fprintf(stderr,
                   "ASDM_BENCH_MODEL needs ASDM_BENCH_INPUTS (a safetensors file of inputs)\n");
      return 1;
    }
    auto c = std::make_shared<Case>(from_files(model, inputs));
    with_stats(benchmark::RegisterBenchmark("UNetForward/model", run_forward, c), reps, true);
  } else {
    // Cases are built lazily: constructing SD 1.5 takes 3.4 GB and seconds.
    with_stats(benchmark::RegisterBenchmark("UNetForward/Tiny/latent16/batch2",
                                            [](benchmark::State& s) {
                                              static auto c = std::make_shared<Case>(
                                                  synthetic("tiny", 16, 2, 77));
                                              run_forward(s, c);
                                            }),
               reps, false);
    with_stats(benchmark::RegisterBenchmark("UNetForward/SD15/latent32/batch2/fp32",
                                            [](benchmark::State& s) {
                                              static auto c = std::make_shared<Case>(
                                                  synthetic("sd15", 32, 2, 77));
                                              run_forward(s, c);
                                            }),
               reps, true);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
