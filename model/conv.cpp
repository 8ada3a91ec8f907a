#include "model/conv.h"

#include <torch/torch.h>

namespace asdm {
namespace {

bool use_gemm(const at::Tensor& x) {
  if (x.is_cuda() || x.scalar_type() != torch::kFloat32) return false;
  const int64_t pixels = x.size(2) * x.size(3);
  return pixels <= kGemmConvMaxPixels ||
         (pixels <= kGemmConvWideMaxPixels && x.size(1) >= kGemmConvWideMinChannels);
}

}  // namespace

at::Tensor conv3x3(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (!use_gemm(x)) return at::conv2d(x, w, b, 1, 1);
  const int64_t B = x.size(0), cout = w.size(0), N = x.size(2) * x.size(3);
  const at::Tensor cols = at::im2col(x, {3, 3}, {1, 1}, {1, 1}, {1, 1});  // [B, cin * 9, N]
  // One GEMM over the batch: [cout, cin * 9] x [cin * 9, B * N].
  const at::Tensor y = at::addmm(b.view({cout, 1}), w.reshape({cout, -1}),
                                 cols.transpose(0, 1).reshape({cols.size(1), B * N}));
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
