#include "profiler/stats.h"

#include <gtest/gtest.h>

namespace asdm {
namespace {

TEST(Stats, QuantilesInterpolateLikeNumpy) {
  const std::vector<double> v = {4, 1, 3, 2, 5};
  EXPECT_DOUBLE_EQ(quantile(v, 0.5), 3.0);
  EXPECT_DOUBLE_EQ(quantile(v, 0.1), 1.4);
  EXPECT_DOUBLE_EQ(quantile(v, 0.9), 4.6);
  const Summary s = summarize(v);
  EXPECT_EQ(s.n, 5);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_NEAR(s.stddev, 1.5811388300841898, 1e-12);
}

TEST(Stats, EmptyAndSingle) {
  EXPECT_EQ(summarize({}).n, 0);
  const Summary one = summarize({7});
  EXPECT_DOUBLE_EQ(one.median, 7);
  EXPECT_DOUBLE_EQ(one.stddev, 0);
}

}  // namespace
}  // namespace asdm
