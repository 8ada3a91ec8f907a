// Bootstrap intervals and rank correlation against values worked out by hand.
#include "analysis/statistics.h"

#include <cmath>

#include <gtest/gtest.h>

#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(Bootstrap, MeanAndIntervalBehave) {
  std::vector<double> v;
  for (int i = 1; i <= 10; ++i) v.push_back(i + 0.01 * i * i);
  const Estimate e = bootstrap_mean(v, 7, 2000);
  EXPECT_DOUBLE_EQ(e.mean, 5.5 + 0.385);
  EXPECT_EQ(e.n, 10);
  EXPECT_LT(e.ci_low, e.mean);
  EXPECT_GT(e.ci_high, e.mean);
  // The mean's standard error is about 3.1 / sqrt(10) = 1.0: the 95% interval is about +-1.9.
  EXPECT_NEAR(e.ci_high - e.ci_low, 3.8, 0.6);
  // Same seed, same interval; another seed, another.
  const Estimate again = bootstrap_mean(v, 7, 2000), other = bootstrap_mean(v, 8, 2000);
  EXPECT_EQ(again.ci_low, e.ci_low);
  EXPECT_EQ(again.ci_high, e.ci_high);
  EXPECT_NE(other.ci_low, e.ci_low);
  // Constant values and single values: the interval is the mean.
  const Estimate c = bootstrap_mean({0.25, 0.25, 0.25}, 1);
  EXPECT_EQ(c.ci_low, 0.25);
  EXPECT_EQ(c.ci_high, 0.25);
  const Estimate one = bootstrap_mean({3.0}, 1);
  EXPECT_EQ(one.ci_low, 3.0);
  EXPECT_EQ(test::error_of([] { bootstrap_mean({}, 1); }), "a mean needs at least one value");
  EXPECT_EQ(test::error_of([] {
              bootstrap_mean({1, 2}, 1, 100, 1.5);
            }),
            "confidence level must be in (0, 1) (got 1.5)");
}

TEST(Bootstrap, StringSeedsDifferPerUnit) {
  EXPECT_NE(string_seed("down_blocks.0.resnets.0", 0), string_seed("down_blocks.0.resnets.1", 0));
  EXPECT_NE(string_seed("a", 0), string_seed("a", 1));
  EXPECT_EQ(string_seed("a", 3), string_seed("a", 3));
}

TEST(Spearman, RanksAndCorrelation) {
  EXPECT_EQ(average_ranks({10, 30, 20}), (std::vector<double>{1, 3, 2}));
  EXPECT_EQ(average_ranks({5, 1, 5, 0}), (std::vector<double>{3.5, 2, 3.5, 1}));
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {10, 20, 30, 400}), 1.0);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // By hand: ranks (1,2,3,4,5) and (2,1,4,3,5): d^2 sum 4, rho = 1 - 6*4/(5*24) = 0.8.
  EXPECT_NEAR(spearman({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}), 0.8, 1e-12);
  EXPECT_TRUE(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(spearman({1}, {2})));
}

}  // namespace
}  // namespace asdm
