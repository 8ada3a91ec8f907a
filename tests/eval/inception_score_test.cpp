#include "eval/inception_score.h"

#include <gtest/gtest.h>

#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(InceptionScore, NumpysLegacyPermutation) {
  // numpy.random.RandomState(2020).permutation(10), RandomState(7).permutation(5)
  EXPECT_EQ(numpy_legacy_permutation(10, 2020),
            (std::vector<int64_t>{2, 4, 9, 1, 5, 7, 6, 3, 8, 0}));
  EXPECT_EQ(numpy_legacy_permutation(5, 7), (std::vector<int64_t>{0, 3, 2, 1, 4}));
}

TEST(InceptionScore, FlatPosteriorsScoreOneAndConfidentDistinctOnesScoreTheClassCount) {
  const int64_t n = 40, c = 4;
  std::vector<float> flat(n * c, 0.5f), sure(n * c, -1e4f);
  for (int64_t i = 0; i < n; ++i) sure[i * c + i % c] = 0;
  EXPECT_NEAR(inception_score(flat, n, c).mean, 1.0, 1e-12);
  const auto s = inception_score(sure, n, c, 10, false);
  EXPECT_NEAR(s.mean, 4.0, 1e-9);  // each split holds every class equally
  EXPECT_NEAR(s.std, 0.0, 1e-9);
  EXPECT_NE(test::error_of([&] { inception_score(flat, n, c, 50); }).find("at least 50"),
            std::string::npos);
}

}  // namespace
}  // namespace asdm
