#pragma once
// The latency-backend interface (issue 3): a backend is a UnitObserver that the profiler attaches
// to observed forwards. begin_forward() before each one; end_forward() after it returns (a CUDA
// backend synchronises there, never inside the forward) gives that forward's per-unit samples.
// Backends: "timer" (profiler/unit_timer.h), "cuda-events" (profiler/event_backend.h) and "cupti"
// (profiler/cupti_backend.h). Torch-free.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/observer.h"

namespace asdm {

struct KernelStat {
  std::string name;
  double total_ms = 0;
  int count = 0;
};

// One unit's times in one forward. inclusive covers nested units, exclusive (self) does not.
// For the CUPTI backend both are GPU busy time (union of the unit's kernel/memcpy/memset intervals)
// and the kernel_* fields are filled; for the others they are elapsed times between the unit's
// boundaries (host clock or CUDA events).
struct UnitSample {
  std::string id;
  double start_ms = 0;  // since the forward began
  double inclusive_ms = 0;
  double exclusive_ms = 0;
  int depth = 0;  // nesting depth (0: top-level unit)
  double span_ms =
      0;  // the unit's slice in the trace: = inclusive_ms, except CUPTI: host enter to exit
  double kernel_sum_ms =
      0;  // CUPTI: sum of the durations of the unit's device activities (inclusive)
  double device_span_ms =
      0;  // CUPTI: first activity start to last activity end (inclusive; idle gaps in)
  int kernel_count = 0;                 // CUPTI: number of those activities (inclusive)
  std::vector<KernelStat> top_kernels;  // CUPTI: by total time, self only
};

// A device activity (kernel, memcpy, memset) for the trace's GPU track (CUPTI only).
struct DeviceSlice {
  std::string name, unit;  // unit: the innermost unit it is attributed to ("" if none)
  uint32_t stream = 0;
  double start_ms = 0, dur_ms = 0;  // start since the forward began
};

struct ForwardRecord {
  std::vector<UnitSample> units;  // in exit order
  std::vector<DeviceSlice> device;
  // CUPTI only: device time of all activities in the forward, and of those joined to a unit.
  double device_total_ms = 0, device_attributed_ms = 0;
  int64_t activities = 0, unattributed = 0, dropped = 0;
};

class LatencyBackend : public UnitObserver {
 public:
  virtual std::string name() const = 0;
  // One line on how the backend measured, for the profile (CUPTI: how kernels were joined to units
  // and where their timestamps came from); read after the forwards.
  virtual std::string detail() const { return {}; }
  virtual void begin_forward() = 0;
  virtual ForwardRecord end_forward() = 0;
};

struct BackendChoice {
  std::unique_ptr<LatencyBackend> backend;
  std::string fallback_note;  // one line when the requested backend could not be used; else empty
};

// Makes the requested backend ("timer", "cuda-events", "cupti") for a forward on the CPU or on a
// CUDA device, falling back (cupti -> cuda-events -> timer) with a one-line note when the
// requested one cannot work here: no CUDA device, CUPTI not built or not usable, or another CUPTI
// client already subscribed. Throws asdm::Error for an unknown name.
BackendChoice make_latency_backend(const std::string& name, bool cuda);

const std::vector<std::string>& latency_backend_names();

}  // namespace asdm
