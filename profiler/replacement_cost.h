#pragma once
// What A-SDM's replacement blocks cost on this machine (issue 6 item 1: the latency predictor adds
// the profiled cost of replacement blocks). A CLME-CondConv does more than the plain convolution it
// replaces (a router, mixing E kernels per sample, a per-sample convolution); this times both at
// the unit's real shapes, interleaved, and reports the difference.
#include <string>
#include <vector>

#include "profiler/cost_model.h"
#include "profiler/stats.h"

namespace asdm {

struct ArchSpec;

struct ReplacementCost {
  std::string unit;
  std::string kind;  // "clme"
  Summary plain_ms, replaced_ms;  // the unit's convolutions with experts, plain and as CLME-CondConv
  double extra_ms() const { return replaced_ms.median - plain_ms.median; }
};

// For every clme edit of `spec`: the convolutions that have experts, at the input `input` (batch,
// latent size; the unit's level from the cost model), with random weights on the CPU in float32 at
// libtorch's current thread count; `runs` interleaved rounds after `warmup`.
std::vector<ReplacementCost> time_replacements(const ArchSpec& spec, const CostInput& input, int runs = 20,
                                               int warmup = 3);

}  // namespace asdm
