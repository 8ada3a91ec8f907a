#include "profiler/cuda_runtime.h"

#include "core/error.h"
#include "core/log.h"
#include "profiler/dynlib.h"

namespace asdm {

void check_status(bool ok, const char* what, const std::string& error) {
  if (!ok) fail("{} failed: {}", what, error);
}

void warn_status(bool ok, const char* what, const std::string& error) {
  if (!ok) log::warn("{} failed: {}", what, error);
}

std::string CudaRuntime::error_text(int status) const {
  return fmt::format("{} (CUDA error {})", get_error_string ? get_error_string(status) : "?",
                     status);
}

void CudaRuntime::check(int status, const char* what) const {
  if (status != 0) check_status(false, what, error_text(status));
}

void CudaRuntime::warn(int status, const char* what) const {
  if (status != 0) warn_status(false, what, error_text(status));
}

namespace {

CudaRuntime load(std::string& why) {
  // libtorch_cpu links libcudart, so it is normally in the process already; else try the library
  // path.
  void* lib = dynlib::open({"libcudart.so.13", "libcudart.so"});
  CudaRuntime rt;
  if (!lib) {
    why = "the CUDA runtime (libcudart) is not available";
    return rt;
  }
  auto sym = [&](auto& fn, const char* name) { dynlib::resolve(lib, fn, name, "libcudart", why); };
  sym(rt.event_create, "cudaEventCreate");
  sym(rt.event_record, "cudaEventRecord");
  sym(rt.event_record_with_flags, "cudaEventRecordWithFlags");
  sym(rt.event_synchronize, "cudaEventSynchronize");
  sym(rt.event_elapsed_time, "cudaEventElapsedTime");
  sym(rt.event_destroy, "cudaEventDestroy");
  sym(rt.device_synchronize, "cudaDeviceSynchronize");
  sym(rt.get_device_count, "cudaGetDeviceCount");
  sym(rt.get_error_string, "cudaGetErrorString");
  if (!why.empty()) return rt;
  int n = 0;
  if (rt.get_device_count(&n) != 0 || n == 0) why = "no CUDA device is available";
  return rt;
}

}  // namespace

const CudaRuntime* cuda_runtime(std::string* why) {
  static std::string reason;
  static const CudaRuntime rt = load(reason);
  if (!reason.empty()) {
    if (why) *why = reason;
    return nullptr;
  }
  return &rt;
}

CudaEventTimer::CudaEventTimer(const CudaRuntime& rt) : rt_(rt) {
  rt_.check(rt_.event_create(&start_), "cudaEventCreate");
  rt_.check(rt_.event_create(&stop_), "cudaEventCreate");
}

CudaEventTimer::~CudaEventTimer() {
  rt_.warn(rt_.event_destroy(start_), "cudaEventDestroy");
  rt_.warn(rt_.event_destroy(stop_), "cudaEventDestroy");
}

void CudaEventTimer::start() { rt_.check(rt_.event_record(start_, nullptr), "cudaEventRecord"); }
void CudaEventTimer::stop() { rt_.check(rt_.event_record(stop_, nullptr), "cudaEventRecord"); }

double CudaEventTimer::elapsed_ms() {
  rt_.check(rt_.event_synchronize(stop_), "cudaEventSynchronize");
  float ms = 0;
  rt_.check(rt_.event_elapsed_time(&ms, start_, stop_), "cudaEventElapsedTime");
  return ms;
}

}  // namespace asdm
