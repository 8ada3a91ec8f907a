// The UNet's 3x3 convolution (model/conv.h): its GEMM path (small maps, and 8x8 maps from 1024
// input channels), its Winograd path (model/winograd.h) and its oneDNN path agree with libtorch's
// conv2d, per batch and per sample; Winograd's cached kernel transforms follow the weights.
#include "model/conv.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/winograd.h"

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

// Every path on every shape kind it may meet: even and odd maps, with and without a bias.
TEST(Conv3x3, EachForcedPathEqualsConv2d) {
  torch::manual_seed(1);
  torch::NoGradGuard ng;
  const std::vector<std::array<int64_t, 5>> shapes = {
      {2, 24, 40, 8, 8}, {1, 16, 8, 4, 6}, {3, 8, 16, 2, 2}, {2, 32, 16, 16, 16}, {1, 8, 8, 6, 10}};
  for (const auto& [B, cin, cout, H, W] : shapes)
    for (const auto path : {Conv3x3Path::kDirect, Conv3x3Path::kGemm, Conv3x3Path::kWinograd}) {
      const torch::Tensor x = torch::randn({B, cin, H, W}), w = torch::randn({cout, cin, 3, 3}),
                          b = torch::randn({cout});
      EXPECT_LT(relative_error(conv3x3(x, w, b, path), at::conv2d(x, w, b, 1, 1)), 1e-5)
          << int(path) << ": " << B << "x" << cin << "->" << cout << " @" << H << "x" << W;
      EXPECT_LT(relative_error(conv3x3(x, w, {}, path), at::conv2d(x, w, {}, 1, 1)), 1e-5);
    }
}

// Winograd is taken for wide channels at 8x8 and 16x16 in inference, not where autograd needs the
// graph; its kernel transforms are cached per weight and follow in-place changes.
TEST(Conv3x3, WinogradWhereItMeasuredFasterAndItsCacheFollowsTheWeights) {
  torch::manual_seed(2);
  torch::Tensor w = torch::randn({320, 320, 3, 3}) * 0.05, b = torch::randn({320});
  const torch::Tensor x16 = torch::randn({2, 320, 16, 16});
  EXPECT_EQ(conv3x3_path(x16, w), Conv3x3Path::kWinograd);
  EXPECT_EQ(conv3x3_path(torch::randn({2, 320, 64, 64}), w), Conv3x3Path::kDirect);
  EXPECT_EQ(conv3x3_path(torch::randn({2, 1280, 4, 4}), torch::randn({1280, 1280, 3, 3})),
            Conv3x3Path::kGemm);
  EXPECT_EQ(conv3x3_path(torch::randn({2, 32, 16, 16}), torch::randn({32, 32, 3, 3})),
            Conv3x3Path::kDirect);
  {
    torch::Tensor wg = w.clone().requires_grad_();
    EXPECT_EQ(conv3x3_path(x16, wg), Conv3x3Path::kDirect) << "autograd needs the graph";
    torch::NoGradGuard ng;
    EXPECT_EQ(conv3x3_path(x16, wg), Conv3x3Path::kWinograd);
  }
  torch::NoGradGuard ng;
  const int64_t before = winograd_cache_bytes();
  EXPECT_LT(relative_error(conv3x3(x16, w, b), at::conv2d(x16, w, b, 1, 1)), 1e-5);
  EXPECT_EQ(winograd_cache_bytes() - before, int64_t(16 * 320 * 320 * sizeof(float)));
  w.mul_(-2);  // in place: the version counter moves, the transform is made again
  EXPECT_LT(relative_error(conv3x3(x16, w, b), at::conv2d(x16, w, b, 1, 1)), 1e-5);
  EXPECT_EQ(winograd_cache_bytes() - before, int64_t(16 * 320 * 320 * sizeof(float)));
  w = torch::Tensor();  // the weight dies: its transform no longer counts
  EXPECT_EQ(winograd_cache_bytes(), before);
}

// Beyond the cache's budget the automatic path takes another route, with the same result.
TEST(Conv3x3, WinogradCacheKeepsToItsBudget) {
  torch::manual_seed(3);
  torch::NoGradGuard ng;
  const torch::Tensor x = torch::randn({2, 256, 8, 8}), w = torch::randn({256, 256, 3, 3}),
                      b = torch::randn({256});
  const int64_t before = winograd_cache_bytes();
  set_winograd_cache_budget(before);  // no room for one more
  EXPECT_FALSE(winograd_kernels_cached(w).defined());
  EXPECT_LT(relative_error(conv3x3(x, w, b), at::conv2d(x, w, b, 1, 1)), 1e-5);
  EXPECT_LT(relative_error(conv3x3(x, w, b, Conv3x3Path::kWinograd), at::conv2d(x, w, b, 1, 1)),
            1e-5);
  EXPECT_EQ(winograd_cache_bytes(), before);
  set_winograd_cache_budget(-1);
  EXPECT_TRUE(winograd_kernels_cached(w).defined());
  EXPECT_GT(winograd_cache_bytes(), before);
}

}  // namespace
}  // namespace asdm
