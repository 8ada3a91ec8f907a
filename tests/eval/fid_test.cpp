#include "eval/fid.h"

#include <gtest/gtest.h>

#include <random>

#include "eval/cmmd.h"
#include "eval/npz.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

GaussianStats gaussian(std::vector<double> mu, std::vector<double> sigma) {
  GaussianStats g;
  g.mu = std::move(mu);
  g.sigma = std::move(sigma);
  return g;
}

TEST(Fid, ClosedFormsForDiagonalGaussians) {
  // 1-d: (m1 - m2)^2 + (s1 - s2)^2.
  EXPECT_NEAR(frechet_distance(gaussian({1}, {4}), gaussian({-2}, {9})), 9 + 1, 1e-12);
  // Diagonal: the sum over dimensions.
  EXPECT_NEAR(frechet_distance(gaussian({0, 0}, {1, 0, 0, 4}), gaussian({1, 1}, {4, 0, 0, 1})),
              2 + 1 + 1, 1e-12);
  const auto g = gaussian({0.5, -1}, {2, 0.3, 0.3, 1});
  EXPECT_NEAR(frechet_distance(g, g), 0.0, 1e-12);
  EXPECT_NE(test::error_of([&] { frechet_distance(g, gaussian({1}, {1})); }).find("dimensions"),
            std::string::npos);
}

TEST(Fid, AccumulatorGivesMeanAndUnbiasedCovarianceInBatches) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<float> x(50 * 3);
  for (auto& v : x) v = normal(rng);
  StatsAccumulator a(3), b(3);
  a.add(x.data(), 50);
  b.add(x.data(), 20);
  b.add(x.data() + 60, 30);
  const auto sa = a.finish("a"), sb = b.finish("b");
  double mean0 = 0;
  for (int i = 0; i < 50; ++i) mean0 += x[i * 3];
  mean0 /= 50;
  double var0 = 0;
  for (int i = 0; i < 50; ++i) var0 += (x[i * 3] - mean0) * (x[i * 3] - mean0);
  var0 /= 49;
  EXPECT_NEAR(sa.mu[0], mean0, 1e-12);
  EXPECT_NEAR(sa.sigma[0], var0, 1e-10);
  for (size_t i = 0; i < sa.sigma.size(); ++i) EXPECT_NEAR(sa.sigma[i], sb.sigma[i], 1e-12);
  EXPECT_EQ(sa.n, 50);
}

TEST(Fid, TooFewImagesSayHowManyAreNeeded) {
  StatsAccumulator a(4);
  std::vector<float> x(4 * 4, 1.0f);
  a.add(x.data(), 4);
  const std::string e = test::error_of([&] { a.finish("set"); });
  EXPECT_NE(e.find("singular"), std::string::npos) << e;
  EXPECT_NE(e.find("at least 5 images"), std::string::npos) << e;
}

TEST(Fid, StatsFilesRoundTripAndNameWhatIsMissing) {
  const auto dir = test::scratch_dir("fid-stats");
  auto g = gaussian({1, 2}, {1, 0.5, 0.5, 2});
  g.n = 77;
  write_fid_stats(dir / "s.npz", g);
  const auto back = read_fid_stats(dir / "s.npz");
  EXPECT_EQ(back.mu, g.mu);
  EXPECT_EQ(back.sigma, g.sigma);
  EXPECT_EQ(back.n, 77);
  write_npz(dir / "no_mu.npz", {{"sigma", {{1, 1}, {1}}}});
  const std::string e = test::error_of([&] { read_fid_stats(dir / "no_mu.npz"); });
  EXPECT_NE(e.find("no 'mu'"), std::string::npos) << e;
  EXPECT_NE(e.find("no_mu.npz"), std::string::npos) << e;
  write_npz(dir / "bad.npz", {{"mu", {{2}, {1, 2}}}, {"sigma", {{3, 3}, std::vector<double>(9)}}});
  EXPECT_NE(test::error_of([&] { read_fid_stats(dir / "bad.npz"); }).find("2x2"),
            std::string::npos);
}

TEST(Cmmd, IsZeroForTheSameSetAndGrowsWithDistance) {
  std::vector<float> x = {1, 0, 0, 1}, y = {0.6f, 0.8f, 0.8f, 0.6f};
  EXPECT_NEAR(cmmd(x, 2, x, 2, 2), 0.0, 1e-12);
  // One point each: 1000 * (2 - 2 exp(-|x - y|^2 / 200)).
  EXPECT_NEAR(cmmd({1, 0}, 1, {0, 1}, 1, 2), 1000 * (2 - 2 * std::exp(-2.0 / 200)), 1e-9);
  EXPECT_GT(cmmd(x, 2, y, 2, 2), 0.0);
}

}  // namespace
}  // namespace asdm
