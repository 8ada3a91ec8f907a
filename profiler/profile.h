#pragma once
// Profiling a UNet forward per unit with a latency backend (profiler/latency_backend.h): warm-up,
// then observed forwards alternated with unobserved ones timed the same way (so the report carries
// its own overhead), per-unit inclusive and exclusive statistics, coverage, and a Chrome trace of
// one forward. Whole forwards are timed with CUDA events on a GPU (device-synchronised host clock
// for the timer backend) and with the steady clock on the CPU.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/input_shape.h"
#include "core/unit_id.h"
#include "profiler/latency_backend.h"
#include "profiler/stats.h"

namespace asdm {

class UNet;

struct ProfileOptions {
  int resolution = 0;  // image side in pixels; 0: sample_size x vae_scale
  int vae_scale = 8;
  int batch = 1;
  int text_tokens = 77;
  int runs = 20;
  int warmup = 2;
  uint64_t seed = 0;
  // timer | cuda-events | cupti (falls back, see make_latency_backend) | cuda-events,cupti (unit
  // latency by CUDA events, then a separate CUPTI pass of min(runs, 5) forwards attributes kernels
  // to units: one profile with deploy-grade times and the kernel breakdown)
  std::string backend = "timer";
  // Sampler-loop mode (sampler_steps > 0): each timed run is `sampler_steps` denoising steps of
  // `sampler` from noise, with classifier-free guidance doubling the UNet batch unless guidance is
  // 1; per-unit statistics are then per UNet call, over all steps.
  int sampler_steps = 0;
  double guidance = 7.5;
  std::string sampler = "ddim";
  // CUDA graphs (model/cuda_graph.h): each forward is captured once and replayed, as deployed. A
  // profile then needs the cuda-events backend, whose events are recorded inside the graph (unit
  // times as the replay runs them); single forwards only. Timing several UNets: each its own graph.
  bool graphs = false;
  std::function<void(int done, int total)> progress;  // after each forward
};

struct UnitProfile {
  std::string id;
  UnitKind kind = UnitKind::kFixed;
  std::string parent;
  Summary inclusive_ms, exclusive_ms;
  int64_t params = 0, macs = 0, attn_macs = 0;
  // CUPTI only: sum of the unit's device-activity durations (inclusive), their count per forward,
  // and the longest kernels (self) of the last forward.
  Summary kernel_sum_ms, device_span_ms;
  int kernel_count = 0;
  std::vector<KernelStat> top_kernels;
};

struct ProfileReport {
  std::string backend = "timer", requested_backend = "timer";
  std::string fallback_note;   // why the requested backend was not used; empty if it was
  std::string backend_detail;  // LatencyBackend::detail(); empty if the backend says nothing
  // "cupti" when a separate CUPTI pass filled the kernel fields (--backend cuda-events,cupti);
  // the unit times, coverage and overhead stay the latency backend's.
  std::string kernel_backend;
  bool has_kernels() const { return backend == "cupti" || kernel_backend == "cupti"; }
  // Which kernel libtorch's scaled_dot_product_attention picks for each distinct attention shape
  // of the forward on its device and dtype (attention_kernels()).
  std::string attention_kernels;
  std::string device, dtype;
  InputShape input;       // batch: images per forward
  int unet_batch = 0;     // the UNet's batch (twice the images with guidance in a sampler loop)
  int sampler_steps = 0;  // 0: single forwards
  bool graphs = false;    // forwards replayed from CUDA graphs (ProfileOptions::graphs)
  bool channels_last = false;  // the UNet ran in channels-last memory (UNet::set_channels_last)
  double guidance = 1;
  std::string sampler;
  std::vector<UnitProfile> units;  // forward order
  Summary forward_ms;     // observed forwards (sampler mode: whole loops), timed around the call
  Summary unobserved_ms;  // the same forwards with no observer
  // Median over runs of the time attributed to units over the total: sum(exclusive) / forward time
  // for timer and cuda-events; device time of unit-attributed activities / all device time for
  // CUPTI.
  double coverage = 0;
  double overhead = 0;  // median observed / median unobserved - 1
  std::string overhead_method;
  // CUPTI only: device time per forward (sum of activity durations), activities per forward,
  // those not attributed to any unit, and records CUPTI dropped over all runs.
  Summary device_ms;
  int64_t activities = 0, unattributed = 0, dropped = 0;
  ForwardRecord trace;  // the last observed forward, for the Chrome trace
};

struct UNetConfig;

// The latent side for the options; throws asdm::Error for bad options or a resolution the UNet
// cannot take (not divisible by vae_scale x 2^(stages - 1)).
int profile_latent_side(const UNetConfig& config, const ProfileOptions& options);

ProfileReport profile_unet(const UNet& unet, const ProfileOptions& options);

// The --backend values a UNet profile takes: latency_backend_names() and "cuda-events,cupti".
const std::vector<std::string>& profile_backend_names();

// The kernel libtorch's scaled_dot_product_attention dispatches to (math, flash_attention,
// efficient_attention, cudnn_attention) for every distinct attention shape of a forward at `in`
// on the UNet's device and dtype, as "self 4096x4096 8x40: flash_attention; cross 4096x77 8x40:
// ..." (tokens of queries x keys, heads x head size). GRI units and removed units are left out.
std::string attention_kernels(const UNet& unet, const InputShape& in);

// Unobserved forwards of several UNets (a teacher and its students) at the same input, timed in
// interleaved rounds (warm-up rounds, then `runs` rounds of one forward each), so that drift and
// contention fall on all alike. Whole-forward times per UNet, in the order given. `peak_bytes`,
// when given, receives each UNet's peak tensor memory during one forward (profiler/peak_memory.h;
// the weights excluded), from an extra untimed forward before the rounds.
std::vector<Summary> time_forwards_interleaved(const std::vector<const UNet*>& unets,
                                               const ProfileOptions& options,
                                               const std::function<void(int, int)>& progress = {},
                                               std::vector<int64_t>* peak_bytes = nullptr);

nlohmann::json to_json(const ProfileReport& r);
// Chrome trace-event JSON (Perfetto, chrome://tracing): units as nested complete ("X") slices.
nlohmann::json chrome_trace(const ProfileReport& r);
// Writes chrome_trace(r) to `path` atomically.
void write_chrome_trace(const ProfileReport& r, const std::filesystem::path& path);

}  // namespace asdm
