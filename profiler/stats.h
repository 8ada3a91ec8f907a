#pragma once
// Summary statistics of repeated measurements (STYLE: median and spread, never one run).
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace asdm {

struct Summary {
  int n = 0;
  double median = 0, p10 = 0, p90 = 0, mean = 0, stddev = 0;  // sample stddev (n - 1)
};

// Quantiles interpolate linearly between order statistics (numpy's default).
Summary summarize(std::vector<double> values);
double quantile(std::vector<double> values, double q);
nlohmann::json to_json(const Summary& s);
// Reads what to_json wrote (nlohmann::json errors on missing fields; artifact readers wrap them).
Summary summary_from_json(const nlohmann::json& j);

}  // namespace asdm
