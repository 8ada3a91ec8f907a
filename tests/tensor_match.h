#pragma once
// Comparing outputs of one model's weights held in two places in memory, and telling where a
// model's weights are.
#include <algorithm>
#include <cstdint>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace asdm::test {

// Whether `a` and `b`, outputs of the same weights, agree up to float32 rounding (relative and
// absolute 1e-5). Weights read in place from a file (WeightsFile::map) lie at the file's offsets,
// and some CPU kernels take other SIMD paths for other alignments: on an AMD EPYC machine, the
// wheel's libtorch gave outputs 5e-7..8e-7 apart (on values of order one) for one tiny UNet whose
// time-embedding Linear weights (a matrix-vector product at batch 1) or a strided convolution's
// lay at an address 40 mod 64, and bit-equal ones once cloned into allocated memory. A wrong or
// missing weight is a difference of order one. Where both sides hold their weights at the same
// offsets, compare with torch::equal.
inline ::testing::AssertionResult same_to_rounding(const at::Tensor& a, const at::Tensor& b) {
  if (a.sizes() != b.sizes())
    return ::testing::AssertionFailure() << "shapes differ: " << a.sizes() << " vs " << b.sizes();
  if (torch::allclose(a, b, 1e-5, 1e-5)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << fmt::format("max |a - b| = {:g}", (a - b).abs().max().item<double>());
}

// Whether `tensors` lie back to back in one span of memory, as a weights file stores them: a
// model whose parameters are its file's own bytes, not copies of them.
inline bool lie_back_to_back(const std::vector<at::Tensor>& tensors) {
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  size_t bytes = 0;
  for (const auto& t : tensors) {
    const auto at = reinterpret_cast<uintptr_t>(t.data_ptr());
    lo = std::min(lo, at);
    hi = std::max(hi, at + t.nbytes());
    bytes += t.nbytes();
  }
  return !tensors.empty() && hi - lo == bytes;
}

}  // namespace asdm::test
