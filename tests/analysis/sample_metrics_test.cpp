// Per-sample distances: exact at identity, closed forms elsewhere.
#include "analysis/sample_metrics.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace asdm {
namespace {

TEST(SampleMetrics, IdentityIsExact) {
  torch::manual_seed(0);
  const at::Tensor x = torch::randn({3, 4, 9, 9});
  for (double v : normalised_mse(x, x)) EXPECT_EQ(v, 0.0);
  for (double v : ssim(x, x, 0)) EXPECT_EQ(v, 1.0);
  for (double v : ssim(x, x, 2.0)) EXPECT_EQ(v, 1.0);
  for (double v : psnr(x, x, 2.0)) EXPECT_EQ(v, kPsnrCapDb);
  for (double v : cosine_similarities(x, x)) EXPECT_NEAR(v, 1.0, 1e-12);
}

TEST(SampleMetrics, ClosedForms) {
  // Sample 0: a = 2 ref; sample 1: a = -ref.
  torch::manual_seed(1);
  const at::Tensor ref = torch::randn({2, 3, 8, 8});
  const at::Tensor a = torch::stack({2 * ref[0], -ref[1]});
  const auto m = normalised_mse(a, ref);
  EXPECT_NEAR(m[0], 1.0, 1e-12);
  EXPECT_NEAR(m[1], 4.0, 1e-12);
  const auto c = cosine_similarities(a, ref);
  EXPECT_NEAR(c[0], 1.0, 1e-12);
  EXPECT_NEAR(c[1], -1.0, 1e-12);
  // PSNR: mse 0.01 at range 1 is 20 dB.
  const auto f64 = torch::kFloat64;
  const at::Tensor z = torch::zeros({1, 1, 4, 4}, f64), p = torch::full({1, 1, 4, 4}, 0.1, f64);
  EXPECT_NEAR(psnr(p, z, 1.0)[0], 20.0, 1e-9);
  // SSIM of two constant images a and b: (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 L)^2.
  const at::Tensor ca = torch::full({1, 2, 10, 10}, 0.3, f64),
                   cb = torch::full({1, 2, 10, 10}, 0.7, f64);
  const double c1 = 0.01 * 0.01;
  EXPECT_NEAR(ssim(ca, cb, 1.0)[0], (2 * 0.3 * 0.7 + c1) / (0.09 + 0.49 + c1), 1e-9);
  // Maps smaller than the 7x7 window use the largest odd window that fits.
  EXPECT_NEAR(
      ssim(torch::full({1, 1, 3, 3}, 0.3, f64), torch::full({1, 1, 3, 3}, 0.7, f64), 1.0)[0],
      (2 * 0.3 * 0.7 + c1) / (0.09 + 0.49 + c1), 1e-9);
  // Data range 0: each reference's own max - min.
  const at::Tensor r2 = torch::tensor({0.0, 2.0}, f64).view({1, 1, 1, 2}),
                   a2 = torch::tensor({0.2, 2.0}, f64).view({1, 1, 1, 2});
  EXPECT_NEAR(psnr(a2, r2, 0)[0], 10 * std::log10(4 / 0.02), 1e-9);
}

}  // namespace
}  // namespace asdm
