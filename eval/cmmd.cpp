#include "eval/cmmd.h"

#include <Eigen/Dense>

#include "core/error.h"

namespace asdm {

double cmmd(const std::vector<float>& x, int64_t nx, const std::vector<float>& y, int64_t ny,
            int64_t dims, double sigma, double scale) {
  if (nx <= 0 || ny <= 0) fail("CMMD needs images on both sides (got {} and {})", nx, ny);
  ASDM_CHECK(
      static_cast<int64_t>(x.size()) == nx * dims && static_cast<int64_t>(y.size()) == ny * dims,
      "cmmd sizes");
  using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::MatrixXd a = Eigen::Map<const RowMat>(x.data(), nx, dims).cast<double>();
  const Eigen::MatrixXd b = Eigen::Map<const RowMat>(y.data(), ny, dims).cast<double>();
  const double gamma = 1.0 / (2.0 * sigma * sigma);
  auto mean_kernel = [&](const Eigen::MatrixXd& u, const Eigen::MatrixXd& v) {
    const Eigen::VectorXd un = u.rowwise().squaredNorm(), vn = v.rowwise().squaredNorm();
    Eigen::MatrixXd d2 = -2.0 * u * v.transpose();
    d2.colwise() += un;
    d2.rowwise() += vn.transpose();
    return (-gamma * d2.array()).exp().mean();
  };
  return scale * (mean_kernel(a, a) + mean_kernel(b, b) - 2.0 * mean_kernel(a, b));
}

}  // namespace asdm
