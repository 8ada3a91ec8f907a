#pragma once
// The UNet's 3x3 convolution (stride 1, padding 1), shared by its blocks, CLME-CondConv and the
// replacement-cost timer. On the CPU in float32 at small maps one im2col + one GEMM over the
// whole batch (MKL reads the weights as they are) beats libtorch's oneDNN path, which spends its
// time on the weights rather than on the few output pixels. Measured on 2 threads of an AMD EPYC,
// batch 2, oneDNN against the GEMM (ms per conv): at 4x4, 1280->1280 29.8 -> 9.4 and 2560->1280
// 57.2 -> 17.5; at 8x8, 1280->1280 42.8 -> 27.6, 1920->1280 60.1 -> 36.0, 2560->1280 79.8 ->
// 46.8, but 640->1280 12.2 either way; at 16x16 oneDNN wins (640->640 19.5 against 24.9). So:
// maps up to 4x4 always, up to 8x8 from 1024 input channels.
// Then Winograd F(2x2, 3x3) (model/winograd.h, inference only) beat both from 8x8 to 16x16 maps
// with 256 channels or more (ms per conv, batch 2, oneDNN / GEMM / Winograd, `asdm_unet_bench
// --benchmark_filter=Conv3x3`): at 8x8, 1280->1280 23.0 / 24.9 / 17.9, 2560->1280 74.2 / 46.8 /
// 34.8, 640->1280 11.7 / 11.7 / 9.4; at 16x16, 640->640 18.0 / 23.5 / 15.6, 1920->640 68.6 / 95.2
// / 45.4, 1280->1280 91.8 / 85.6 / 50.7, 320->640 9.3 / 11.5 / 8.5. At 32x32 it wins only with
// 640 channels both ways (640->640 66.7 against 57.4; 320->320 17.8 against 21.2), at 4x4 the GEMM
// stays (1280->1280 8.6 against 17.0), at 64x64 oneDNN (320->320 67.5 against 113).
#include <cstdint>

namespace at {
class Tensor;
}

namespace asdm {

constexpr int64_t kGemmConvMaxPixels = 16;
constexpr int64_t kGemmConvWideMaxPixels = 64, kGemmConvWideMinChannels = 1024;
constexpr int64_t kWinogradMinChannels = 256, kWinogradMaxPixels = 256;
constexpr int64_t kWinogradWideMaxPixels = 1024, kWinogradWideMinChannels = 640;

// How conv3x3 computes: libtorch's convolution (oneDNN on the CPU), im2col + one GEMM, or
// Winograd F(2x2, 3x3) (model/winograd.h). kAuto picks by device, dtype, map size and channels.
enum class Conv3x3Path { kAuto, kDirect, kGemm, kWinograd };

// The path kAuto takes for this input and weight.
Conv3x3Path conv3x3_path(const at::Tensor& x, const at::Tensor& weight);

// x [B, Cin, H, W], weight [Cout, Cin, 3, 3], bias [Cout].
at::Tensor conv3x3(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                   Conv3x3Path path = Conv3x3Path::kAuto);

// Per-sample kernels: weight [B, Cout, Cin, 3, 3], bias [B, Cout]; sample b uses weight[b]. One
// grouped convolution (groups = B), or im2col + batched GEMM where conv3x3 uses GEMM.
at::Tensor conv3x3_per_sample(const at::Tensor& x, const at::Tensor& weight,
                              const at::Tensor& bias);

}  // namespace asdm
