// ProcessGroupNCCL for asdm's process groups (distributed/group.h), as a plugin: asdm links
// libtorch's CPU libraries only and loads libtorch_cuda at run time (model/runtime.h), so the NCCL
// backend, which lives in libtorch_cuda, is built into this small library that group.cpp loads
// when a job runs on CUDA devices. One C entry point; errors come back as text.
#include <chrono>
#include <cstdio>

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

extern "C" __attribute__((visibility("default"))) c10d::Backend* asdm_nccl_backend(
    c10d::Store* store, int rank, int world, long long timeout_ms, char* error,
    unsigned long error_size) {
  try {
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = std::chrono::milliseconds(timeout_ms);
    auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(
        c10::intrusive_ptr<c10d::Store>::reclaim_copy(store), rank, world, options);
    return pg.release();
  } catch (const std::exception& e) {
    std::snprintf(error, error_size, "%s", e.what());
    return nullptr;
  }
}
