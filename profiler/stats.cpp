#include "profiler/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

namespace asdm {

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

Summary summarize(std::vector<double> v) {
  Summary s;
  s.n = static_cast<int>(v.size());
  if (v.empty()) return s;
  s.median = quantile(v, 0.5);
  s.p10 = quantile(v, 0.1);
  s.p90 = quantile(v, 0.9);
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / s.n;
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.stddev = s.n > 1 ? std::sqrt(ss / (s.n - 1)) : 0.0;
  return s;
}

nlohmann::json to_json(const Summary& s) {
  return {{"n", s.n},     {"median", s.median}, {"p10", s.p10},
          {"p90", s.p90}, {"mean", s.mean},     {"stddev", s.stddev}};
}

Summary summary_from_json(const nlohmann::json& j) {
  Summary s;
  s.n = j.at("n").get<int>();
  s.median = j.at("median").get<double>();
  s.p10 = j.at("p10").get<double>();
  s.p90 = j.at("p90").get<double>();
  s.mean = j.at("mean").get<double>();
  s.stddev = j.at("stddev").get<double>();
  return s;
}

}  // namespace asdm
