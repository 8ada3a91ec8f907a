#pragma once
// The UNet's 3x3 convolution (stride 1, padding 1), shared by its blocks, CLME-CondConv and the
// replacement-cost timer. On the CPU in float32 at tiny maps one im2col + GEMM (MKL reads the
// weights as they are) beats libtorch's oneDNN path, which spends its time on the weights rather
// than on the few output pixels. Measured on 2 threads of an AMD EPYC, batch 2: 2560->1280 channels
// at 4x4, 71.5 -> 41.4 ms per conv, and the SD 1.5 ResBlocks at 4x4 (a 32x32 latent) about 30%
// faster; at 8x8 the result was mixed and at 16x16 no faster, so maps above 4x4 keep oneDNN.
#include <cstdint>

namespace at {
class Tensor;
}

namespace asdm {

constexpr int64_t kGemmConvMaxPixels = 16;

// x [B, Cin, H, W], weight [Cout, Cin, 3, 3], bias [Cout].
at::Tensor conv3x3(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// Per-sample kernels: weight [B, Cout, Cin, 3, 3], bias [B, Cout]; sample b uses weight[b]. One
// grouped convolution (groups = B), or im2col + batched GEMM where conv3x3 uses GEMM.
at::Tensor conv3x3_per_sample(const at::Tensor& x, const at::Tensor& weight,
                              const at::Tensor& bias);

}  // namespace asdm
