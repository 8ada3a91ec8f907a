#pragma once
// The interface between asdm and its CUDA-graphs plugin (libasdm_cuda_graphs.so, built from
// model/cuda_graph_plugin.cpp). libtorch's CUDA graphs and streams live in libtorch_cuda and
// libc10_cuda, which asdm does not link (model/runtime.h loads them at run time), so the few calls
// that need them sit in the plugin; model/cuda_graph.h is what the rest of asdm uses. Torch-free.
// Every method throws std::runtime_error with the failing call and libtorch's first line.

namespace asdm {

class CudaGraphPlugin {
 public:
  virtual ~CudaGraphPlugin() = default;
  // Makes the graph's own stream current, after it waits for the work already queued on the
  // current one; leave_stream() makes the previous stream current again, waiting for the graph's.
  virtual void enter_stream() = 0;
  virtual void leave_stream() = 0;
  // libtorch's CUDAGraph capture_begin / capture_end (which instantiates), on the graph's stream
  // with the graph's private memory pool.
  virtual void begin_capture() = 0;
  virtual void end_capture() = 0;
  // Launches the graph on the current stream.
  virtual void replay() = 0;
  // The current stream of the device (a cudaStream_t).
  virtual void* current_stream() const = 0;
};

}  // namespace asdm

// The plugin's one C entry point: a graph for CUDA device `device`, or nullptr with the reason in
// `error`.
extern "C" {
using AsdmCudaGraphNew = asdm::CudaGraphPlugin* (*)(int device, char* error, unsigned long size);
}
