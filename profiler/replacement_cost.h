#pragma once
// What A-SDM's replacement blocks cost on this machine (issue 6 item 1: the latency predictor adds
// the profiled cost of replacement blocks). A CLME-CondConv does more than the plain convolution it
// replaces (a router, mixing E kernels per sample, a per-sample convolution); GRI attention does
// less than full self-attention at large maps (and may do more at small ones). This times both at
// the unit's real shapes, interleaved, and reports the difference.
#include <string>
#include <vector>

#include "profiler/cost_model.h"
#include "profiler/stats.h"

namespace asdm {

struct ArchSpec;

struct ReplacementCost {
  std::string unit;
  std::string kind;  // "clme" or "gri"
  // clme: the unit's convolutions with experts, plain and as CLME-CondConv; gri: the self-attention
  // of each of its transformer blocks (softmax attention only, projections excluded), full and GRI
  Summary plain_ms, replaced_ms;
  double extra_ms() const { return replaced_ms.median - plain_ms.median; }
};

// For every clme and gri edit of `spec` (in that order): the parts they replace, at the input
// `input` (batch, latent size; the unit's level from the cost model), with random weights on the
// CPU in float32 at libtorch's current thread count; `runs` interleaved rounds after `warmup`.
std::vector<ReplacementCost> time_replacements(const ArchSpec& spec, const InputShape& input,
                                               int runs = 20, int warmup = 3);

}  // namespace asdm
