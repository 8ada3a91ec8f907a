#pragma once
// Statistics for importance scores (torch-free): means with bootstrap confidence intervals over
// prompts, and rank correlation between two scorings of the same units.
#include <cstdint>
#include <string>
#include <vector>

namespace asdm {

struct Estimate {
  double mean = 0;
  double ci_low = 0, ci_high = 0;  // percentile bootstrap interval of the mean
  int n = 0;
};

// Mean of `values` with a percentile bootstrap interval at `level` (0.95: the 2.5th and 97.5th
// percentiles of `resamples` means of n values drawn with replacement). The resampling depends on
// (seed, values.size()) only, through a fixed generator (std::mt19937_64, indices by modulo), so
// the interval is the same on every platform and in every run order. resamples 0: the interval is
// the mean itself. Throws asdm::Error for no values or a level outside (0, 1).
Estimate bootstrap_mean(const std::vector<double>& values, uint64_t seed, int resamples = 1000,
                        double level = 0.95);

// A stable 64-bit seed for a string (FNV-1a), to give every unit its own bootstrap stream.
uint64_t string_seed(const std::string& text, uint64_t seed);

// Ranks with ties averaged (1-based), and Spearman's rho as the Pearson correlation of the ranks;
// NaN when either side is constant or there are fewer than 2 pairs.
std::vector<double> average_ranks(const std::vector<double>& values);
double spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace asdm
