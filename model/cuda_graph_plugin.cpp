// asdm's CUDA-graphs plugin (model/cuda_graph_plugin.h): libtorch's CUDAGraph and stream calls,
// built into a small library that model/cuda_graph.cpp loads when --graphs is asked for, since
// asdm itself links only libtorch's CPU libraries. Symbols resolve against the libtorch_cuda the
// process has already loaded (model/runtime.h).
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAStream.h>

#include "model/cuda_graph_plugin.h"

namespace {

std::string first_line(const char* what) {
  std::string s(what);
  return s.substr(0, s.find('\n'));
}

template <class F>
void guarded(const char* call, F f) {
  try {
    f();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(call) + ": " + first_line(e.what()));
  }
}

class Graph final : public asdm::CudaGraphPlugin {
 public:
  explicit Graph(c10::DeviceIndex device)
      : device_(device), stream_(c10::cuda::getStreamFromPool(false, device)) {}

  void enter_stream() override {
    guarded("entering the graph's stream", [&] {
      if (previous_) return;
      const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(device_);
      at::cuda::CUDAEvent ready;
      ready.record(current);
      ready.block(stream_);
      previous_ = current;
      c10::cuda::setCurrentCUDAStream(stream_);
    });
  }

  void leave_stream() override {
    guarded("leaving the graph's stream", [&] {
      if (!previous_) return;
      at::cuda::CUDAEvent done;
      done.record(stream_);
      done.block(*previous_);
      c10::cuda::setCurrentCUDAStream(*previous_);
      previous_.reset();
    });
  }

  void begin_capture() override {
    guarded("CUDAGraph::capture_begin", [&] { graph_.capture_begin(); });
  }
  void end_capture() override {
    guarded("CUDAGraph::capture_end", [&] { graph_.capture_end(); });
  }
  void replay() override {
    guarded("CUDAGraph::replay", [&] { graph_.replay(); });
  }
  void* current_stream() const override {
    return c10::cuda::getCurrentCUDAStream(device_).stream();
  }

 private:
  c10::DeviceIndex device_;
  c10::cuda::CUDAStream stream_;
  std::optional<c10::cuda::CUDAStream> previous_;
  at::cuda::CUDAGraph graph_;
};

}  // namespace

extern "C" __attribute__((visibility("default"))) asdm::CudaGraphPlugin* asdm_cuda_graph_new(
    int device, char* error, unsigned long size) {
  try {
    return new Graph(static_cast<c10::DeviceIndex>(device));
  } catch (const std::exception& e) {
    std::snprintf(error, size, "%s", first_line(e.what()).c_str());
    return nullptr;
  }
}
