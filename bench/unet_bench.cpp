// UNet forward benchmarks (Google Benchmark). Each repetition of the big cases is one forward, so
// the median/p10/p90 over repetitions are per-forward latencies.
//
//   build/asdm_unet_bench                                  tiny config and SD 1.5 at a 32x32 latent
//   build/asdm_unet_bench --benchmark_filter=Tiny          one case
//   build/asdm_unet_bench --benchmark_filter=UNetUnit      one block of each kind (ResBlock,
//       Transformer2D, Downsample, Upsample) of SD 1.5: the block's own time inside a real forward,
//       read by a latency backend (CUDA events on a GPU, 512x512; the steady clock on the CPU,
//       128x128) and reported as manual time
//   build/asdm_unet_bench --benchmark_filter=Conv3x3      SD 1.5's 3x3 convolutions, batch 2, by
//       each path of model/conv.h (direct = libtorch's conv2d, gemm, winograd), CPU float32
//   ASDM_BENCH_MODEL=DIR ASDM_BENCH_INPUTS=io.safetensors build/asdm_unet_bench
//       times a saved model on saved inputs (what bench/compare_diffusers.py uses)
// Environment: ASDM_BENCH_THREADS (default 2), ASDM_BENCH_REPETITIONS (default 10),
// ASDM_BENCH_DEVICE (cpu | cuda, default cpu), ASDM_BENCH_DTYPE (float32 | float16 | bfloat16),
// ASDM_BENCH_GRAPHS=1 (CUDA: the forwards are replays of one CUDA graph, model/cuda_graph.h),
// ASDM_BENCH_CHANNELS_LAST=1 (NHWC weights and activations: UNet::set_channels_last).
// On CUDA each timed forward ends with a device synchronisation.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "core/artifact.h"
#include "core/unit_id.h"
#include "model/checkpoint.h"
#include "model/conv.h"
#include "model/cuda_graph.h"
#include "model/runtime.h"
#include "model/tensor_io.h"
#include "profiler/latency_backend.h"
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
    asdm::ensure_device(device);
    unet->to(device, env_str("ASDM_BENCH_DTYPE", "float32"));
    unet->set_channels_last(env_int("ASDM_BENCH_CHANNELS_LAST", 0) != 0);
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

// Runs a case body, turning an exception (a missing device, say) into a reported benchmark error.
template <class Fn>
void guarded(benchmark::State& state, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
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
  std::unique_ptr<asdm::CudaGraph> graph;
  torch::Tensor graph_out;
  if (env_int("ASDM_BENCH_GRAPHS", 0)) {
    graph = std::make_unique<asdm::CudaGraph>(env_str("ASDM_BENCH_DEVICE", "cpu"));
    graph->capture([&] { graph_out = c->unet->forward(c->sample, c->timestep, c->ehs, added); });
    graph->replay();
    torch::cuda::synchronize();
  }
  for (auto _ : state) {
    if (graph) {
      graph->replay();
      torch::cuda::synchronize();
      continue;
    }
    auto out = c->unet->forward(c->sample, c->timestep, c->ehs, added);
    if (c->cuda) torch::cuda::synchronize();
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.counters["batch"] = static_cast<double>(c->sample.size(0));
}

// One unit's inclusive time per iteration, measured inside a whole forward by a latency backend.
void run_unit(benchmark::State& state, std::shared_ptr<Case> c, const std::string& unit) {
  torch::InferenceMode guard;
  auto choice = asdm::make_latency_backend(c->cuda ? "cuda-events" : "timer", c->cuda);
  asdm::LatencyBackend& backend = *choice.backend;
  auto observed = [&] {
    backend.begin_forward();
    c->unet->forward(c->sample, c->timestep, c->ehs, {}, &backend);
    for (const auto& s : backend.end_forward().units)
      if (s.id == unit) return s.inclusive_ms;
    throw std::runtime_error("no unit " + unit + " in the forward");
  };
  observed();  // warm-up
  for (auto _ : state) state.SetIterationTime(observed() / 1e3);
  state.counters["batch"] = static_cast<double>(c->sample.size(0));
}

// One 3x3 convolution by one path (the CPU paths of model/conv.h), batch 2, float32.
void run_conv(benchmark::State& state, asdm::Conv3x3Path path, int cin, int cout, int side) {
  // Made outside inference mode, as a model's weights are (Winograd caches its kernel transforms
  // only for tensors that keep a version counter).
  torch::manual_seed(0);
  const auto x = torch::randn({2, cin, side, side});
  const auto w = torch::randn({cout, cin, 3, 3}) * 0.02, b = torch::randn({cout});
  torch::InferenceMode guard;
  asdm::conv3x3(x, w, b, path);  // warm-up (and Winograd's kernel transform, cached)
  for (auto _ : state) benchmark::DoNotOptimize(asdm::conv3x3(x, w, b, path).data_ptr());
}

benchmark::internal::Benchmark* with_stats(benchmark::internal::Benchmark* b, int reps,
                                           bool one_per_rep, bool manual_time = false) {
  b->Unit(benchmark::kMillisecond)->Repetitions(reps);
  if (manual_time)
    b->UseManualTime();
  else
    b->UseRealTime();
  if (one_per_rep) b->Iterations(1);
  b->ComputeStatistics("p10", [](const std::vector<double>& v) { return asdm::quantile(v, 0.1); });
  b->ComputeStatistics("p90", [](const std::vector<double>& v) { return asdm::quantile(v, 0.9); });
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  torch::set_num_threads(env_int("ASDM_BENCH_THREADS", 2));
  // Before any tensor work: libtorch caches its CUDA hooks on first use (torch::manual_seed too),
  // so libtorch_cuda must be loaded first.
  try {
    asdm::ensure_device(env_str("ASDM_BENCH_DEVICE", "cpu"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asdm_unet_bench: %s\n", e.what());
    return 1;
  }
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
    with_stats(
        benchmark::RegisterBenchmark(
            env_int("ASDM_BENCH_GRAPHS", 0) ? "UNetForward/model/graphs" : "UNetForward/model",
            [c](benchmark::State& s) { guarded(s, [&] { run_forward(s, c); }); }),
        reps, true);
  } else {
    // Cases are built lazily: constructing SD 1.5 takes 3.4 GB and seconds.
    with_stats(benchmark::RegisterBenchmark("UNetForward/Tiny/latent16/batch2",
                                            [](benchmark::State& s) {
                                              guarded(s, [&] {
                                                static auto c = std::make_shared<Case>(
                                                    synthetic("tiny", 16, 2, 77));
                                                run_forward(s, c);
                                              });
                                            }),
               reps, false);
    // The name carries the dtype the run asked for (ASDM_BENCH_DTYPE), so fp16 and fp32 results
    // differ.
    const std::string dtype = env_str("ASDM_BENCH_DTYPE", "float32");
    const std::string tag(asdm::short_name(asdm::parse_dtype(dtype)));
    with_stats(benchmark::RegisterBenchmark(("UNetForward/SD15/latent32/batch2/" + tag).c_str(),
                                            [](benchmark::State& s) {
                                              guarded(s, [&] {
                                                static auto c = std::make_shared<Case>(
                                                    synthetic("sd15", 32, 2, 77));
                                                run_forward(s, c);
                                              });
                                            }),
               reps, true);
    // SD 1.5's 3x3 convolutions (input channels, output channels, map side) at 256² and 512².
    const int convs[][3] = {{320, 320, 32},   {960, 320, 32},   {640, 320, 32},  {320, 640, 16},
                            {640, 640, 16},   {1920, 640, 16},  {1280, 640, 16}, {960, 640, 16},
                            {640, 1280, 8},   {1280, 1280, 8},  {2560, 1280, 8}, {1920, 1280, 8},
                            {1280, 1280, 4},  {2560, 1280, 4},  {640, 640, 32},  {1280, 1280, 16},
                            {2560, 1280, 16}, {1920, 1280, 16}, {320, 320, 64}};
    const std::pair<const char*, asdm::Conv3x3Path> paths[] = {
        {"direct", asdm::Conv3x3Path::kDirect},
        {"gemm", asdm::Conv3x3Path::kGemm},
        {"winograd", asdm::Conv3x3Path::kWinograd},
        {"auto", asdm::Conv3x3Path::kAuto}};
    for (const auto& c : convs)
      for (const auto& [name, path] : paths)
        with_stats(benchmark::RegisterBenchmark(
                       fmt::format("Conv3x3/{}/{}-{}@{}", name, c[0], c[1], c[2]).c_str(),
                       [c, path](benchmark::State& s) { run_conv(s, path, c[0], c[1], c[2]); }),
                   reps, false);
    // Per block kind, at SD 1.5's shapes: 512x512 on a GPU, 128x128 on the CPU.
    auto sd15 = [] {
      static auto c = [] {
        const bool gpu = env_str("ASDM_BENCH_DEVICE", "cpu").rfind("cuda", 0) == 0;
        return std::make_shared<Case>(synthetic("sd15", gpu ? 64 : 16, 2, 77));
      }();
      return c;
    };
    using asdm::Stage;
    const std::pair<const char*, std::string> units[] = {
        {"ResBlock", asdm::unit_id::resnet(Stage::kDown, 0, 0)},
        {"ResBlock", asdm::unit_id::resnet(Stage::kUp, 3, 0)},  // 1x1 conv shortcut
        {"Transformer2D", asdm::unit_id::attention(Stage::kDown, 0, 0)},
        {"Transformer2D", asdm::unit_id::attention(Stage::kMid, 0, 0)},
        {"Downsample", asdm::unit_id::downsampler(0)},
        {"Upsample", asdm::unit_id::upsampler(2)},
    };
    for (const auto& [kind, id] : units) {
      with_stats(
          benchmark::RegisterBenchmark(
              ("UNetUnit/SD15/" + std::string(kind) + "/" + id).c_str(),
              [id, sd15](benchmark::State& s) { guarded(s, [&] { run_unit(s, sd15(), id); }); }),
          reps, true, /*manual_time=*/true);
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
