#include "profiler/latency_backend.h"

#include "core/error.h"
#include "profiler/cuda_runtime.h"
#include "profiler/cupti_backend.h"
#include "profiler/event_backend.h"
#include "profiler/unit_timer.h"

namespace asdm {

const std::vector<std::string>& latency_backend_names() {
  static const std::vector<std::string> names = {"timer", "cuda-events", "cupti"};
  return names;
}

BackendChoice make_latency_backend(const std::string& name, bool cuda) {
  if (name != "timer" && name != "cuda-events" && name != "cupti")
    fail("unknown latency backend '{}' (known: {})", name,
         join_limited(latency_backend_names(), 10));
  BackendChoice c;
  std::string why;
  const CudaRuntime* rt = cuda ? cuda_runtime(&why) : nullptr;
  if (cuda && !rt) fail("a CUDA forward asked for, but {}", why);
  std::string want = name;
  if (want != "timer" && !cuda) {
    c.fallback_note = fmt::format(
        "{} backend needs a CUDA device; the model runs on the CPU, using the timer backend", want);
    want = "timer";
  }
  if (want == "cupti") {
    c.backend = make_cupti_backend(*rt, &why);
    if (c.backend) return c;
    c.fallback_note = fmt::format("cupti backend unavailable ({}); using cuda-events", why);
    want = "cuda-events";
  }
  if (want == "cuda-events") {
    c.backend = std::make_unique<CudaEventBackend>(*rt);
    return c;
  }
  if (cuda) {
    c.backend = std::make_unique<UnitTimer>([rt] {
      rt->check(rt->device_synchronize(), "cudaDeviceSynchronize");
      return UnitTimer::steady_ms();
    });
  } else {
    c.backend = std::make_unique<UnitTimer>();
  }
  return c;
}

}  // namespace asdm
