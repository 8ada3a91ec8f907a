#pragma once
// The Fréchet distance between two Gaussians fitted to feature sets (the FID formula), with the
// matrix square root by symmetric eigendecomposition (Eigen): d = |mu1 - mu2|^2 +
// tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2). Torch-free.
#include <vector>

namespace asdm::proxy {

// The distance's two terms: `mean` = |mu1 - mu2|^2 and `covariance` = tr(S1 + S2 - 2 (...)^1/2),
// with each set's spread tr(S) beside them (a set whose spread is below the other's gains from
// any change that widens it, which is what the covariance term rewards).
struct FrechetTerms {
  double mean = 0, covariance = 0;
  double spread_a = 0, spread_b = 0;  // tr(S1), tr(S2)
  double total() const { return mean + covariance; }
};

// Features are row-major [n, dim]; each set needs n >= 2.
FrechetTerms frechet_terms(const std::vector<double>& a, int n_a, const std::vector<double>& b,
                           int n_b, int dim);
double frechet_distance(const std::vector<double>& a, int n_a, const std::vector<double>& b,
                        int n_b, int dim);

}  // namespace asdm::proxy
