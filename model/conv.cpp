#include "model/conv.h"

#include <torch/torch.h>

#include "model/winograd.h"

namespace asdm {
namespace {

// Winograd where it measured faster (see conv.h), in inference only: its transforms are plain
// loops without autograd.
bool use_winograd(const at::Tensor& x, const at::Tensor& w) {
  // ASDM_WINOGRAD=0 turns the path off (its kernel transforms cost 16/9 of the weights they serve).
  static const bool enabled = [] {
    const char* v = std::getenv("ASDM_WINOGRAD");
    return !(v && std::string(v) == "0");
  }();
  if (!enabled) return false;
  if (x.is_cuda() || x.scalar_type() != torch::kFloat32 || w.scalar_type() != torch::kFloat32)
    return false;
  if (at::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad())) return false;
  const int64_t H = x.size(2), W = x.size(3), pixels = H * W;
  const int64_t narrow = std::min(x.size(1), w.size(0));
  if (H % 2 || W % 2 || narrow < kWinogradMinChannels) return false;
  return (pixels > kGemmConvMaxPixels && pixels <= kWinogradMaxPixels) ||
         (pixels > kWinogradMaxPixels && pixels <= kWinogradWideMaxPixels &&
          narrow >= kWinogradWideMinChannels);
}

bool use_gemm(const at::Tensor& x) {
  if (x.is_cuda() || x.scalar_type() != torch::kFloat32) return false;
  const int64_t pixels = x.size(2) * x.size(3);
  return pixels <= kGemmConvMaxPixels ||
         (pixels <= kGemmConvWideMaxPixels && x.size(1) >= kGemmConvWideMinChannels);
}

}  // namespace

Conv3x3Path conv3x3_path(const at::Tensor& x, const at::Tensor& w) {
  // NHWC activations (UNet::set_channels_last) go to the library's convolution, which takes them
  // as they are; the GEMM and Winograd paths were measured, and are written, for NCHW.
  if (!x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast))
    return Conv3x3Path::kDirect;
  if (use_winograd(x, w)) return Conv3x3Path::kWinograd;
  return use_gemm(x) ? Conv3x3Path::kGemm : Conv3x3Path::kDirect;
}

at::Tensor conv3x3(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                   Conv3x3Path path) {
  if (path == Conv3x3Path::kAuto) {
    path = conv3x3_path(x, w);
    if (path == Conv3x3Path::kWinograd) {
      // Only with cached kernel transforms: beyond the cache's budget another path is faster.
      const at::Tensor kernels = winograd_kernels_cached(w);
      if (kernels.defined()) return conv3x3_winograd(x, w, b, kernels);
      path = use_gemm(x) ? Conv3x3Path::kGemm : Conv3x3Path::kDirect;
    }
  }
  if (path == Conv3x3Path::kWinograd) return conv3x3_winograd(x, w, b);
  if (path == Conv3x3Path::kDirect) return at::conv2d(x, w, b, 1, 1);
  const int64_t B = x.size(0), cout = w.size(0), N = x.size(2) * x.size(3);
  const at::Tensor cols = at::im2col(x, {3, 3}, {1, 1}, {1, 1}, {1, 1});  // [B, cin * 9, N]
  // One GEMM over the batch: [cout, cin * 9] x [cin * 9, B * N].
  const at::Tensor rows = cols.transpose(0, 1).reshape({cols.size(1), B * N});
  const at::Tensor y = b.defined() ? at::addmm(b.view({cout, 1}), w.reshape({cout, -1}), rows)
                                   : at::mm(w.reshape({cout, -1}), rows);
  return y.view({cout, B, N}).transpose(0, 1).reshape({B, cout, x.size(2), x.size(3)});
}

at::Tensor conv3x3_per_sample(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const int64_t B = x.size(0), cin = x.size(1), H = x.size(2), W = x.size(3), cout = w.size(1);
  if (use_gemm(x)) {
    const at::Tensor cols = at::im2col(x, {3, 3}, {1, 1}, {1, 1}, {1, 1});  // [B, cin * 9, H * W]
    const at::Tensor y =
        at::baddbmm(b.view({B, cout, 1}), w.reshape({B, cout, -1}), cols);  // [B, cout, H * W]
    return y.view({B, cout, H, W});
  }
  const at::Tensor y = at::conv2d(x.reshape({1, B * cin, H, W}), w.reshape({B * cout, cin, 3, 3}),
                                  b.reshape({B * cout}), 1, 1, 1, B);
  return y.view({B, cout, H, W});
}

}  // namespace asdm
