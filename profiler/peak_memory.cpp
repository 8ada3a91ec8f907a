#include "profiler/peak_memory.h"

#include <algorithm>

#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>

namespace asdm {

struct PeakMemory::State : c10::MemoryReportingInfoBase {
  int64_t current = 0, peak = 0;
  void reportMemoryUsage(void*, int64_t alloc_size, size_t, size_t, c10::Device) override {
    current += alloc_size;
    peak = std::max(peak, current);
  }
  bool memoryProfilingEnabled() const override { return true; }
};

struct PeakMemory::Guard {
  explicit Guard(std::shared_ptr<c10::DebugInfoBase> info)
      : guard(c10::DebugInfoKind::PROFILER_STATE, std::move(info)) {}
  c10::DebugInfoGuard guard;
};

PeakMemory::PeakMemory()
    : state_(std::make_shared<State>()), guard_(std::make_unique<Guard>(state_)) {}
PeakMemory::~PeakMemory() = default;

int64_t PeakMemory::peak_bytes() const { return state_->peak; }
int64_t PeakMemory::current_bytes() const { return state_->current; }

}  // namespace asdm
