#pragma once
// The torch side of a run's context: threads, device, libtorch version for artifacts.
#include <cstdint>
#include <string>
#include <vector>

#include "core/artifact.h"
#include "core/dtype.h"

namespace torch::nn {
class Module;
}
namespace c10 {
enum class ScalarType : int8_t;
}

namespace asdm {

// Sets libtorch's intra-op threads (0 keeps the default).
void set_threads(int threads);
// argv, device kind and name, threads and libtorch version for an artifact's header.
RunContext make_run_context(const std::vector<std::string>& argv,
                            const std::string& device = "cpu");
std::string torch_version();
// Makes libtorch's CUDA backend available for `device` ("cuda", "cuda:1"): asdm links libtorch's
// CPU libraries only and loads libtorch_cuda on first use. Throws asdm::Error when the build has
// no CUDA support, the library cannot be loaded, or no device is visible, and for devices other
// than cpu and cuda. No-op for "cpu". Call it before any tensor work: libtorch caches its CUDA
// hooks on first use (even torch::manual_seed), after which loading libtorch_cuda changes nothing.
void ensure_device(const std::string& device);

// Moves a module to `device` (as ensure_device) in `dtype` ("float32"/"fp32", "float16"/"fp16",
// "bfloat16"/"bf16"); throws asdm::Error naming an unknown dtype.
void move_module(torch::nn::Module& module, const std::string& device, const std::string& dtype);

// `file` in the folder of the running binary (where asdm's plugins sit: libasdm_nccl.so,
// libasdm_cuda_graphs.so); "" if the binary's path cannot be read.
std::string beside_binary(const std::string& file);

// libtorch's scalar type of a dtype.
c10::ScalarType torch_dtype(DType dtype);

}  // namespace asdm
