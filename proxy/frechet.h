#pragma once
// The Fréchet distance between two Gaussians fitted to feature sets (the FID formula), with the
// matrix square root by symmetric eigendecomposition (Eigen): d = |mu1 - mu2|^2 +
// tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2). Torch-free.
#include <vector>

namespace asdm::proxy {

// Features are row-major [n, dim]; each set needs n >= 2.
double frechet_distance(const std::vector<double>& a, int n_a, const std::vector<double>& b,
                        int n_b, int dim);

}  // namespace asdm::proxy
