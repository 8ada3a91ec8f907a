#pragma once
// The UNet's 3x3 convolution (stride 1, padding 1), shared by its blocks, CLME-CondConv and the
// replacement-cost timer. On the CPU in float32 at small maps one im2col + one GEMM over the
// whole batch (MKL reads the weights as they are) beats libtorch's oneDNN path, which spends its
// time on the weights rather than on the few output pixels. Measured on 2 threads of an AMD EPYC,
// batch 2, oneDNN against the GEMM (ms per conv): at 4x4, 1280->1280 29.8 -> 9.4 and 2560->1280
// 57.2 -> 17.5; at 8x8, 1280->1280 42.8 -> 27.6, 1920->1280 60.1 -> 36.0, 2560->1280 79.8 ->
// 46.8, but 640->1280 12.2 either way; at 16x16 oneDNN wins (640->640 19.5 against 24.9). So:
// maps up to 4x4 always, up to 8x8 from 1024 input channels.
#include <cstdint>

namespace at {
class Tensor;
}

namespace asdm {

constexpr int64_t kGemmConvMaxPixels = 16;
constexpr int64_t kGemmConvWideMaxPixels = 64, kGemmConvWideMinChannels = 1024;

// x [B, Cin, H, W], weight [Cout, Cin, 3, 3], bias [Cout].
at::Tensor conv3x3(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// Per-sample kernels: weight [B, Cout, Cin, 3, 3], bias [B, Cout]; sample b uses weight[b]. One
// grouped convolution (groups = B), or im2col + batched GEMM where conv3x3 uses GEMM.
at::Tensor conv3x3_per_sample(const at::Tensor& x, const at::Tensor& weight,
                              const at::Tensor& bias);

}  // namespace asdm
