#include "analysis/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include <Eigen/Core>

#include "core/error.h"

namespace asdm {

Estimate bootstrap_mean(const std::vector<double>& values, uint64_t seed, int resamples,
                        double level) {
  if (values.empty()) fail("a mean needs at least one value");
  if (!(level > 0 && level < 1)) fail("confidence level must be in (0, 1) (got {})", level);
  const size_t n = values.size();
  const Eigen::Map<const Eigen::ArrayXd> v(values.data(), static_cast<Eigen::Index>(n));
  Estimate e;
  e.n = static_cast<int>(n);
  e.mean = v.mean();
  e.ci_low = e.ci_high = e.mean;
  if (resamples <= 0 || n < 2) return e;
  std::mt19937_64 g(seed ^ (0x9e3779b97f4a7c15ull * n));
  std::vector<double> means(resamples);
  for (int r = 0; r < resamples; ++r) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += values[g() % n];
    means[r] = s / n;
  }
  std::sort(means.begin(), means.end());
  // Linear interpolation between order statistics (numpy's default percentile rule).
  auto pct = [&](double q) {
    const double pos = q * (resamples - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min<size_t>(lo + 1, resamples - 1);
    return means[lo] + (pos - lo) * (means[hi] - means[lo]);
  };
  e.ci_low = pct((1 - level) / 2);
  e.ci_high = pct(1 - (1 - level) / 2);
  return e;
}

uint64_t string_seed(const std::string& text, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::vector<double> average_ranks(const std::vector<double>& values) {
  const size_t n = values.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> rank(n);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && values[order[j + 1]] == values[order[i]]) ++j;
    const double r = (double(i) + double(j)) / 2 + 1;
    for (size_t k = i; k <= j; ++k) rank[order[k]] = r;
    i = j + 1;
  }
  return rank;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  ASDM_CHECK(a.size() == b.size(), "spearman: {} vs {} values", a.size(), b.size());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (a.size() < 2) return nan;
  const auto ra = average_ranks(a), rb = average_ranks(b);
  const Eigen::Map<const Eigen::ArrayXd> x(ra.data(), ra.size()), y(rb.data(), rb.size());
  const Eigen::ArrayXd dx = x - x.mean(), dy = y - y.mean();
  const double sxx = (dx * dx).sum(), syy = (dy * dy).sum();
  if (sxx == 0 || syy == 0) return nan;
  return (dx * dy).sum() / std::sqrt(sxx * syy);
}

}  // namespace asdm
