// The UNet's 3x3 convolution (model/conv.h): its GEMM path (small maps, and 8x8 maps from 1024
// input channels) and its oneDNN path agree with libtorch's conv2d, per batch and per sample.
#include "model/conv.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace asdm {
namespace {

double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

TEST(Conv3x3, EveryPathEqualsConv2d) {
  torch::manual_seed(0);
  torch::NoGradGuard ng;
  // (batch, cin, cout, height, width): 4x4 and 3x5 (GEMM), 8x8 from 1024 channels (GEMM), 8x8
  // below it and 16x16 (oneDNN).
  const std::vector<std::array<int64_t, 5>> shapes = {{2, 64, 48, 4, 4},   {3, 32, 16, 3, 5},
                                                      {2, 1024, 16, 8, 8}, {1, 1024, 8, 8, 8},
                                                      {2, 64, 32, 8, 8},   {2, 16, 16, 16, 16}};
  for (const auto& [B, cin, cout, H, W] : shapes) {
    const torch::Tensor x = torch::randn({B, cin, H, W}), w = torch::randn({cout, cin, 3, 3}),
                        b = torch::randn({cout});
    const torch::Tensor want = at::conv2d(x, w, b, 1, 1), got = conv3x3(x, w, b);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LT(relative_error(got, want), 1e-5)
        << B << "x" << cin << "->" << cout << " @" << H << "x" << W;
    // Per-sample kernels: sample i with its own weights.
    const torch::Tensor ws = torch::randn({B, cout, cin, 3, 3}), bs = torch::randn({B, cout});
    const torch::Tensor per = conv3x3_per_sample(x, ws, bs);
    for (int64_t i = 0; i < B; ++i)
      EXPECT_LT(relative_error(per[i], at::conv2d(x.slice(0, i, i + 1), ws[i], bs[i], 1, 1)[0]),
                1e-5)
          << "sample " << i << " of " << B << "x" << cin << " @" << H << "x" << W;
  }
}

}  // namespace
}  // namespace asdm
