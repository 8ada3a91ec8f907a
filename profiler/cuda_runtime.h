#pragma once
// The few CUDA runtime calls the profiler makes (events, device synchronisation), resolved at run
// time from the libcudart that libtorch already loaded: asdm links no CUDA library, so one binary
// runs on machines with and without a GPU, and its events share libtorch's context and default
// stream. Torch-free.
#include <string>

namespace asdm {

struct CudaRuntime {
  using Event = void*;
  int (*event_create)(Event*) = nullptr;
  int (*event_record)(Event, void* stream) = nullptr;
  // cudaEventRecordWithFlags: with kEventRecordExternal during stream capture the record becomes a
  // node of the graph, recorded at every replay (CUDA graphs, model/cuda_graph.h).
  int (*event_record_with_flags)(Event, void* stream, unsigned flags) = nullptr;
  static constexpr unsigned kEventRecordExternal = 0x01;
  int (*event_synchronize)(Event) = nullptr;
  int (*event_elapsed_time)(float* ms, Event start, Event end) = nullptr;
  int (*event_destroy)(Event) = nullptr;
  int (*device_synchronize)() = nullptr;
  int (*get_device_count)(int*) = nullptr;
  const char* (*get_error_string)(int) = nullptr;

  // Throws asdm::Error naming the call when a CUDA call fails.
  void check(int status, const char* what) const;
  // The same check as a warning, for destructors (which must not throw).
  void warn(int status, const char* what) const;
  std::string error_text(int status) const;
};

// The two forms every CUDA and CUPTI status goes through (STYLE.md 11): `check_status` throws
// asdm::Error "<what> failed: <error>", `warn_status` logs the same line as a warning.
void check_status(bool ok, const char* what, const std::string& error);
void warn_status(bool ok, const char* what, const std::string& error);

// The runtime, or nullptr with the reason in *why (no libcudart in the process or on the library
// path, or no CUDA device).
const CudaRuntime* cuda_runtime(std::string* why);

// A pair of CUDA events around work on the default stream (libtorch's current stream: asdm does
// not switch streams); elapsed() synchronises on the end event.
class CudaEventTimer {
 public:
  explicit CudaEventTimer(const CudaRuntime& rt);
  ~CudaEventTimer();
  CudaEventTimer(const CudaEventTimer&) = delete;
  CudaEventTimer& operator=(const CudaEventTimer&) = delete;
  void start();
  void stop();
  double elapsed_ms();

 private:
  const CudaRuntime& rt_;
  void* start_ = nullptr;
  void* stop_ = nullptr;
};

}  // namespace asdm
