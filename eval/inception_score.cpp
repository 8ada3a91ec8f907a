#include "eval/inception_score.h"

#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"

namespace asdm {

std::vector<int64_t> numpy_legacy_permutation(int64_t n, uint32_t seed) {
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  std::mt19937 mt(seed);  // numpy's init_genrand(seed) for an integer seed
  // numpy's legacy random_interval(max): the smallest all-ones mask covering max, 32-bit draws
  // masked and rejected until <= max (64-bit draws for max > 2^32 - 1).
  auto interval = [&](uint64_t max) -> uint64_t {
    if (max == 0) return 0;
    uint64_t mask = max;
    for (int s : {1, 2, 4, 8, 16, 32}) mask |= mask >> s;
    uint64_t v;
    if (max <= 0xFFFFFFFFull) {
      do v = mt() & mask;
      while (v > max);
    } else {
      do v = ((static_cast<uint64_t>(mt()) << 32) | mt()) & mask;
      while (v > max);
    }
    return v;
  };
  for (int64_t i = n - 1; i >= 1; --i) std::swap(p[i], p[interval(static_cast<uint64_t>(i))]);
  return p;
}

InceptionScore inception_score(const std::vector<float>& logits, int64_t n, int64_t classes,
                               int splits, bool shuffle, uint32_t seed) {
  ASDM_CHECK(static_cast<int64_t>(logits.size()) == n * classes, "{} logits for {}x{}",
             logits.size(), n, classes);
  if (n < splits)
    fail("the Inception Score over {} splits needs at least {} images, got {}", splits, splits, n);
  const auto order = shuffle ? numpy_legacy_permutation(n, seed) : [&] {
    std::vector<int64_t> o(n);
    std::iota(o.begin(), o.end(), 0);
    return o;
  }();
  std::vector<double> p(n * classes), logp(n * classes);
  for (int64_t r = 0; r < n; ++r) {
    const float* x = logits.data() + order[r] * classes;
    double mx = x[0];
    for (int64_t c = 1; c < classes; ++c) mx = std::max(mx, static_cast<double>(x[c]));
    double z = 0;
    for (int64_t c = 0; c < classes; ++c) z += std::exp(x[c] - mx);
    const double lz = std::log(z) + mx;
    for (int64_t c = 0; c < classes; ++c) {
      logp[r * classes + c] = x[c] - lz;
      p[r * classes + c] = std::exp(x[c] - lz);
    }
  }
  std::vector<double> scores;
  for (int i = 0; i < splits; ++i) {
    const int64_t a = i * n / splits, b = (i + 1) * n / splits;
    std::vector<double> q(classes, 0.0);
    for (int64_t r = a; r < b; ++r)
      for (int64_t c = 0; c < classes; ++c) q[c] += p[r * classes + c];
    for (auto& v : q) v = std::log(v / static_cast<double>(b - a));
    double kl = 0;
    for (int64_t r = a; r < b; ++r) {
      double row = 0;
      for (int64_t c = 0; c < classes; ++c)
        row += p[r * classes + c] * (logp[r * classes + c] - q[c]);
      kl += row;
    }
    scores.push_back(std::exp(kl / static_cast<double>(b - a)));
  }
  InceptionScore s;
  s.n = n;
  s.splits = splits;
  s.mean = std::accumulate(scores.begin(), scores.end(), 0.0) / splits;
  double var = 0;
  for (double v : scores) var += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(var / splits);
  return s;
}

}  // namespace asdm
