#pragma once
// Peak tensor memory of a stretch of code: while a PeakMemory is alive, libtorch's allocators
// (the CPU allocator and CUDA's caching allocator) report every allocation and free on this
// thread to it, through c10's memory-reporting hook (the one torch's own profiler uses). peak_bytes
// is the highest total of live tensor bytes allocated since construction. Allocations made on
// other threads (intra-op worker threads) are not seen; libtorch's operators allocate their
// outputs on the calling thread, so these are the activations. RAII, one per measured stretch.
#include <cstdint>
#include <memory>

namespace asdm {

class PeakMemory {
 public:
  PeakMemory();
  ~PeakMemory();
  PeakMemory(const PeakMemory&) = delete;
  PeakMemory& operator=(const PeakMemory&) = delete;

  int64_t peak_bytes() const;
  int64_t current_bytes() const;  // allocated minus freed since construction

 private:
  struct State;
  struct Guard;
  std::shared_ptr<State> state_;
  std::unique_ptr<Guard> guard_;
};

}  // namespace asdm
