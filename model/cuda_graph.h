#pragma once
// CUDA graphs (issue 21): work captured once for fixed shapes and relaunched as one graph, which
// removes the per-kernel launch cost that dominates a UNet forward on a fast GPU (SD 1.5 at 512²,
// batch 2, on an H100: about 1,200 kernels). A graph replays with the tensors its capture used:
// inputs are static, so new values are copied into them before replay(), and outputs are
// overwritten by the next replay. libtorch's CUDA graphs live in libtorch_cuda, which asdm loads at
// run time, so this goes through a small plugin beside the binary (libasdm_cuda_graphs.so;
// model/cuda_graph_plugin.h). Torch-free header.
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace asdm {

class CudaGraphPlugin;

class CudaGraph {
 public:
  // A graph for `device` ("cuda", "cuda:N"); throws asdm::Error (as require_graphs) where there
  // can be none.
  explicit CudaGraph(const std::string& device);
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Runs `fn` `warmup` times on the graph's own stream (libtorch's lazy set-up: cuBLAS workspaces,
  // the caching allocator's blocks), then once more under stream capture. Call once.
  void capture(const std::function<void()>& fn, int warmup = 2);
  // Launches the captured work on the current stream (asynchronous, like any kernel launch).
  void replay();
  bool captured() const { return captured_; }
  // While capture() runs `fn`: whether this call is the one being captured, and the stream its work
  // goes to (a cudaStream_t), for CUDA events recorded into the graph.
  bool capturing() const { return capturing_; }
  void* stream() const;

 private:
  std::unique_ptr<CudaGraphPlugin> plugin_;
  bool captured_ = false, capturing_ = false;
};

// A function of tensors run as a CUDA graph: the first call captures `fn` at its inputs' shapes and
// dtypes, on static copies of the inputs; every later call copies its inputs into them, replays,
// and returns a copy of the output (the graph overwrites its own at the next replay). Host values
// fn reads are frozen at capture: whatever changes between calls (a timestep) must come in as a
// tensor. A call with other shapes or dtypes throws asdm::Error naming both: a graph replays fixed
// shapes. `what` names the caller in errors ("generate --graphs").
class GraphedFunction {
 public:
  using Fn = std::function<at::Tensor(const std::vector<at::Tensor>&)>;
  GraphedFunction(const std::string& device, Fn fn, std::string what, int warmup = 2);
  ~GraphedFunction();
  at::Tensor operator()(const std::vector<at::Tensor>& inputs);
  int replays() const { return replays_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  int replays_ = 0;
};

// Throws asdm::Error with one line saying why `what` (e.g. "--graphs") cannot run on `device`: not
// a CUDA device, a build without CUDA, no device visible, or no plugin. Loads the CUDA backend
// (model/runtime.h's ensure_device) and the plugin.
void require_graphs(const std::string& device, const std::string& what = "--graphs");

}  // namespace asdm
