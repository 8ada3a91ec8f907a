#pragma once
// The "cuda-events" latency backend: a CUDA event recorded on the default stream at every unit
// boundary, no host synchronisation inside the forward; end_forward() waits for the last event and
// reads the elapsed times. A unit's inclusive time is the stream time between its two events
// (kernels and any idle gaps); exclusive subtracts its nested units. Torch-free.
#include <vector>

#include "profiler/cuda_runtime.h"
#include "profiler/latency_backend.h"

namespace asdm {

class CudaEventBackend : public LatencyBackend {
 public:
  explicit CudaEventBackend(const CudaRuntime& rt);
  ~CudaEventBackend() override;
  std::string name() const override { return "cuda-events"; }
  void begin_forward() override;
  ForwardRecord end_forward() override;
  void on_enter(const UnitInfo& unit) override;
  void on_exit(const UnitInfo& unit, const at::Tensor& output) override;

  // For CUDA graphs (model/cuda_graph.h): the events of the next forwards go to `stream` (a
  // cudaStream_t; nullptr: the default stream), and with `into_graph` they are recorded as external
  // nodes of the graph being captured there, so every replay records them again. end_forward()
  // then returns an empty record without waiting; collect() after a replay reads the times.
  void set_stream(void* stream, bool into_graph);
  // The last forward's (or replay's) per-unit times: waits for its last event.
  ForwardRecord collect();

 private:
  void* next_event();
  void record(void* event);
  struct Range {
    const UnitInfo* unit;
    void* enter;
    void* exit = nullptr;
    int depth;
    int parent;  // index in ranges_, -1: top level
  };
  const CudaRuntime& rt_;
  void* stream_ = nullptr;
  bool into_graph_ = false;
  std::vector<void*> pool_;
  size_t used_ = 0;
  void* origin_ = nullptr;
  std::vector<Range> ranges_;  // enter order
  std::vector<int> open_;
  std::vector<int> exit_order_;
};

}  // namespace asdm
