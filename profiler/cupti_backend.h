#pragma once
// The "cupti" latency backend: the CUPTI Activity API records every kernel, memcpy and memset with
// its device timestamps; a CUPTI callback on the launch calls notes which unit each launch came
// from (the correlation id), and profiler/cupti_attribution.h joins the records to units. Tracing
// stays on from the first observed forward until the backend goes; after each forward it
// synchronises the device and flushes CUPTI's buffers with the forced flag. On GPUs where CUPTI
// accepts it (Blackwell) kernel timestamps come from the hardware trace. CUPTI is resolved at run
// time from the libcupti that libtorch already loaded (the CUDA toolkit's headers are needed to
// build it: ASDM_WITH_CUPTI). Torch-free.
#include <memory>
#include <string>

#include "profiler/cuda_runtime.h"
#include "profiler/latency_backend.h"

namespace asdm {

// nullptr with the reason in *why when CUPTI cannot be used here: not built in, libcupti missing,
// another CUPTI client (a profiler such as Nsight Systems or torch.profiler) already subscribed, or
// activity tracing refused. Only one CUPTI backend may exist at a time.
std::unique_ptr<LatencyBackend> make_cupti_backend(const CudaRuntime& rt, std::string* why);

}  // namespace asdm
