// GRI attention: one window over the whole map without pooling is full attention; windows with
// pooled global tokens equal full attention over [all keys, pooled keys] masked to what each query
// may see.
#include "model/gri_attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "model/arch_spec.h"
#include "model/unet.h"
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
  EXPECT_LE((gri_attention(q, k, v, H, W, {64, 0}) - full).abs().max().item<double>(),
            1e-5);  // clamped
  EXPECT_EQ(gri_keys_per_query(H, W, {8, 0}), 64);
}

TEST(GriAttention, WindowsAndPooledTokensMatchAMaskedReference) {
  torch::manual_seed(1);
  const int64_t H = 8, W = 4, d = 8;
  const GriOptions o{2, 2};
  const at::Tensor q = torch::randn({1, 2, H * W, d}, torch::kFloat64),
                   k = torch::randn({1, 2, H * W, d}, torch::kFloat64),
                   v = torch::randn({1, 2, H * W, d}, torch::kFloat64);
  // Reference: keys = [all H*W tokens, pooled tokens]; query (y, x) sees tokens of its window and
  // every pooled one.
  auto pool = [&](const at::Tensor& t) {
    return torch::avg_pool2d(t.transpose(2, 3).reshape({2, d, H, W}), 2, 2)
        .reshape({1, 2, d, -1})
        .transpose(2, 3);
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
  EXPECT_EQ(test::error_of([&] {
              gri_attention(t, t, t, 6, 6, {4, 0});
            }),
            "GRI window 4 does not divide the 6x6 map");
  EXPECT_EQ(test::error_of([&] {
              gri_attention(t, t, t, 6, 6, {3, 4});
            }),
            "GRI pool 4 does not divide the 6x6 map");
}

// The GRI edit in a UNet: the same weights, the self-attention replaced.
TEST(GriAttention, AsAnArchSpecEditInTheUNet) {
  torch::manual_seed(2);
  const ArchSpec teacher_spec = arch_from_config(load_unet_config(test::config_path("tiny")));
  UNet teacher(teacher_spec);
  auto student_with = [&](int window, int pool) {
    ArchSpec s = teacher_spec;
    s.edits.push_back(Edit::gri("down_blocks.0.attentions.0", window, pool));
    s.edits.push_back(Edit::gri("up_blocks.3.attentions.2", window, pool));
    auto u = std::make_unique<UNet>(s);
    torch::NoGradGuard ng;
    auto src = teacher.module().named_parameters();
    for (auto& p : u->module().named_parameters()) p.value().copy_(src[p.key()]);
    return u;
  };
  torch::InferenceMode guard;
  const at::Tensor x = torch::randn({2, 4, 8, 8}), t = torch::tensor({3, 900}),
                   h = torch::randn({2, 7, 32});
  const at::Tensor ref = teacher.forward(x, t, h);
  // At 64x64 pixels the first and last levels are 8x8 maps: a window of 8 covers them.
  EXPECT_LE((student_with(8, 0)->forward(x, t, h) - ref).abs().max().item<double>(), 1e-5);
  const at::Tensor local = student_with(2, 2)->forward(x, t, h);
  EXPECT_TRUE(torch::isfinite(local).all().item<bool>());
  EXPECT_GT((local - ref).abs().max().item<double>(), 1e-4);

  ArchSpec s = teacher_spec;
  s.edits.push_back(Edit::gri("mid_block.attentions.0", 4, 1));
  EXPECT_FALSE(s.diffusers_expressible());
  EXPECT_EQ(arch_spec_from_json(to_json(s)).edits, s.edits);
  EXPECT_EQ(s.gri_units().at("mid_block.attentions.0").window, 4);
  s.edits = {Edit::gri("down_blocks.0.resnets.0", 4, 1)};
  EXPECT_EQ(test::error_of([&] { s.gri_units(); }),
            "edit gri: unit 'down_blocks.0.resnets.0' is a resblock; GRI replaces the "
            "self-attention of an attention unit");
  s.edits = {Edit::gri("down_blocks.0.attentions.0", 0, 1)};
  EXPECT_EQ(
      test::error_of([&] { UNet bad(s); }),
      "edit gri: unit 'down_blocks.0.attentions.0' needs window >= 1 and pool >= 0 (got 0, 1)");
}

}  // namespace
}  // namespace asdm
