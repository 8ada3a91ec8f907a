// GRI attention: one window over the whole map without pooling is full attention; windows with
// pooled global tokens equal full attention over [all keys, pooled keys] masked to what each query
// may see.
#include "model/gri_attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(GriAttention, OneWindowWithoutPoolingIsFullAttention) {
  torch::manual_seed(0);
  const int64_t H = 8, W = 8;
  const at::Tensor q = torch::randn({2, 3, H * W, 16}), k = torch::randn({2, 3, H * W, 16}),
                   v = torch::randn({2, 3, H * W, 16});
  const at::Tensor full = at::scaled_dot_product_attention(q, k, v);
  EXPECT_LE((gri_attention(q, k, v, H, W, {8, 0}) - full).abs().max().item<double>(), 1e-5);
  EXPECT_LE((gri_attention(q, k, v, H, W, {64, 0}) - full).abs().max().item<double>(), 1e-5);  // clamped
  EXPECT_EQ(gri_keys_per_query(H, W, {8, 0}), 64);
}

TEST(GriAttention, WindowsAndPooledTokensMatchAMaskedReference) {
  torch::manual_seed(1);
  const int64_t H = 8, W = 4, d = 8;
  const GriOptions o{2, 2};
  const at::Tensor q = torch::randn({1, 2, H * W, d}, torch::kFloat64), k = torch::randn({1, 2, H * W, d}, torch::kFloat64),
                   v = torch::randn({1, 2, H * W, d}, torch::kFloat64);
  // Reference: keys = [all H*W tokens, pooled tokens]; query (y, x) sees tokens of its window and every pooled one.
  auto pool = [&](const at::Tensor& t) {
    return torch::avg_pool2d(t.transpose(2, 3).reshape({2, d, H, W}), 2, 2).reshape({1, 2, d, -1}).transpose(2, 3);
  };
  const at::Tensor keys = torch::cat({k, pool(k)}, 2), values = torch::cat({v, pool(v)}, 2);
  const int64_t G = (H / 2) * (W / 2);
  at::Tensor mask = torch::zeros({H * W, H * W + G}, torch::kBool);
  for (int64_t i = 0; i < H * W; ++i) {
    for (int64_t j = 0; j < H * W; ++j)
      mask[i][j] = (i / W) / 2 == (j / W) / 2 && (i % W) / 2 == (j % W) / 2;
    for (int64_t j = 0; j < G; ++j) mask[i][H * W + j] = true;
  }
  const at::Tensor ref = at::scaled_dot_product_attention(q, keys, values, mask);
  EXPECT_LE((gri_attention(q, k, v, H, W, o) - ref).abs().max().item<double>(), 1e-10);
  EXPECT_EQ(gri_keys_per_query(H, W, o), 4 + 8);
}

TEST(GriAttention, WindowsThatDoNotDivideTheMapAreRefused) {
  const at::Tensor t = torch::zeros({1, 1, 6 * 6, 4});
  EXPECT_EQ(test::error_of([&] { gri_attention(t, t, t, 6, 6, {4, 0}); }), "GRI window 4 does not divide the 6x6 map");
  EXPECT_EQ(test::error_of([&] { gri_attention(t, t, t, 6, 6, {3, 4}); }), "GRI pool 4 does not divide the 6x6 map");
}

}  // namespace
}  // namespace asdm
