#pragma once
// Winograd's minimal filtering F(2x2, 3x3) for the UNet's 3x3 convolutions on the CPU in float32
// inference (model/conv.h decides where): each 4x4 input tile and 3x3 kernel are transformed so
// that a 2x2 output tile costs 16 multiplications instead of 36, as 16 GEMMs of [Cout, Cin] x
// [Cin, tiles]; the 2.25x fewer multiply-adds outweigh the transforms where the channels are wide.
// The kernels' transforms are cached per weight tensor (16/9 of its size) while it lives and is
// not modified, up to a budget. Error against the direct convolution: about 1e-6 relative in
// float32.
#include <cstdint>

namespace at {
class Tensor;
}

namespace asdm {

// x [B, Cin, H, W] (H, W even), weight [Cout, Cin, 3, 3], bias [Cout] (may be undefined); CPU,
// float32, stride 1, padding 1.
// `kernels`: winograd_kernels(weight) when the caller has them; else the cache's, or made anew.
at::Tensor conv3x3_winograd(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            const at::Tensor& kernels);
at::Tensor conv3x3_winograd(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// The kernels' transform G g G^T as [16, Cout, Cin] (not cached).
at::Tensor winograd_kernels(const at::Tensor& weight);

// The same from the cache, made and kept on first use; undefined when the weight is an inference
// tensor (no version counter to see in-place changes by) or the cache's budget would be exceeded
// (ASDM_WINOGRAD_CACHE_MB, default 2048: SD 1.5 at 512² would need 3.3 GiB for every eligible
// convolution, at 256² 1.7 GiB). conv3x3 then takes another path.
at::Tensor winograd_kernels_cached(const at::Tensor& weight);

// Bytes of kernel transforms the cache holds now.
int64_t winograd_cache_bytes();
// Sets the cache's budget in bytes (negative: back to ASDM_WINOGRAD_CACHE_MB's or the default).
void set_winograd_cache_budget(int64_t bytes);

}  // namespace asdm
