#pragma once
// Joining CUPTI activity records to UNet units (issue 3), as plain code so that it is tested with
// synthetic records (tests/profiler/cupti_attribution_test.cpp) and needs no GPU.
//
// The CUPTI backend gives each unit range an id and learns, for every CUDA API call that put work
// on the device inside a unit, the pair (API correlation id, innermost open unit's id): by default
// from a CUPTI callback on the launch calls, else (ASDM_CUPTI_API_RECORDS) from
// EXTERNAL_CORRELATION records after pushing the id on unit entry and popping it on exit. A
// kernel/memcpy/memset record carries the correlation id of the API call that launched it. Joining
// the two gives each device activity its unit, whatever order the records arrive in (a kernel
// record often arrives after its unit closed, in a later buffer). Nested units roll up: a unit's
// inclusive time covers its descendants' activities.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "profiler/latency_backend.h"

namespace asdm {

// Whether a CUDA runtime or driver API function (by its CUPTI callback name, e.g.
// "cudaLaunchKernel_v7000", "cuLaunchKernelEx", "cuMemsetD32Async") can put work on the device:
// launches, memcpys and memsets. The CUPTI backend's callbacks note these calls' correlation ids.
bool launches_device_work(std::string_view api_name);

struct RangeRecord {  // one unit's external-correlation range
  uint64_t ext_id = 0;
  std::string unit;
  uint64_t parent_ext = 0;             // 0: top level
  uint64_t enter_ns = 0, exit_ns = 0;  // host timestamps (CUPTI clock), for the trace
};

struct ExternalCorrelation {
  uint32_t correlation_id = 0;
  uint64_t ext_id = 0;
};

struct ActivityRecord {
  enum class Kind { kKernel, kMemcpy, kMemset };
  Kind kind = Kind::kKernel;
  uint32_t correlation_id = 0;
  uint32_t stream = 0;
  uint64_t start_ns = 0, end_ns = 0;
  std::string name;
};

// Total length of the union of [start, end) intervals (ns). Intervals may overlap (kernels on
// several streams) and come in any order.
uint64_t union_length(std::vector<std::pair<uint64_t, uint64_t>> intervals);

// Per-unit samples (forward order of exit: a child before its parent, as the other backends), the
// device slices for the trace, and the totals. Times are relative to origin_ns. Activities whose
// correlation id has no external correlation (launched outside every unit) count as unattributed;
// `dropped` is passed through. top_kernels keeps the `top` longest kernel names per unit (self).
ForwardRecord attribute_activity(const std::vector<RangeRecord>& ranges,
                                 const std::vector<ExternalCorrelation>& correlations,
                                 const std::vector<ActivityRecord>& activities, int64_t dropped,
                                 uint64_t origin_ns, int top = 5);

}  // namespace asdm
