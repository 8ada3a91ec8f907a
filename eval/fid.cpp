#include "eval/fid.h"

#include <cmath>

#include <Eigen/Dense>

#include "core/error.h"
#include "eval/npz.h"

namespace asdm {

using Eigen::MatrixXd;
using Eigen::VectorXd;

struct StatsAccumulator::Impl {
  int64_t dims = 0, n = 0;
  VectorXd sum;
  MatrixXd outer;  // lower triangle of sum x x^T
};

StatsAccumulator::StatsAccumulator(int64_t dims) : impl_(std::make_unique<Impl>()) {
  ASDM_CHECK(dims > 0, "feature dimension {}", dims);
  impl_->dims = dims;
  impl_->sum = VectorXd::Zero(dims);
  impl_->outer = MatrixXd::Zero(dims, dims);
}
StatsAccumulator::~StatsAccumulator() = default;
StatsAccumulator::StatsAccumulator(StatsAccumulator&&) noexcept = default;
StatsAccumulator& StatsAccumulator::operator=(StatsAccumulator&&) noexcept = default;
int64_t StatsAccumulator::count() const { return impl_->n; }
int64_t StatsAccumulator::dims() const { return impl_->dims; }

void StatsAccumulator::add(const float* rows, int64_t count) {
  if (count <= 0) return;
  const int64_t d = impl_->dims;
  const MatrixXd x =
      Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          rows, count, d)
          .cast<double>();
  impl_->sum += x.colwise().sum().transpose();
  impl_->outer.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
  impl_->n += count;
}

void check_fid_dims(int dims) {
  if (dims != 64 && dims != 192 && dims != 768 && dims != 2048)
    fail("FID feature dimension {} is not one of pytorch-fid's: 64, 192, 768, 2048", dims);
}

void require_enough_for_fid(int64_t n, int64_t dims, const std::string& what) {
  if (n <= dims)
    fail(
        "{}: {} images give a singular {}x{} feature covariance, so FID is not defined by it; "
        "it needs at least {} images ({} or more is the usual protocol)",
        what, n, dims, dims, dims + 1, dims >= 2048 ? "10,000" : "10x the dimension");
}

GaussianStats StatsAccumulator::finish(const std::string& what) const {
  const int64_t n = impl_->n, d = impl_->dims;
  require_enough_for_fid(n, d, what);
  const VectorXd mu = impl_->sum / static_cast<double>(n);
  MatrixXd s = impl_->outer.selfadjointView<Eigen::Lower>();
  s -= static_cast<double>(n) * mu * mu.transpose();
  s /= static_cast<double>(n - 1);
  GaussianStats g;
  g.n = n;
  g.mu.assign(mu.data(), mu.data() + d);
  g.sigma.resize(d * d);
  Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(g.sigma.data(),
                                                                                     d, d) = s;
  return g;
}

double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  const int64_t d = a.dims();
  if (d != b.dims())
    fail(
        "FID statistics of different dimensions: {} and {} (both must come from the same "
        "feature layer)",
        a.dims(), b.dims());
  ASDM_CHECK(static_cast<int64_t>(a.sigma.size()) == d * d &&
                 static_cast<int64_t>(b.sigma.size()) == d * d,
             "sigma sizes");
  using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const MatrixXd s1 = Eigen::Map<const RowMat>(a.sigma.data(), d, d);
  const MatrixXd s2 = Eigen::Map<const RowMat>(b.sigma.data(), d, d);
  const VectorXd diff =
      Eigen::Map<const VectorXd>(a.mu.data(), d) - Eigen::Map<const VectorXd>(b.mu.data(), d);
  Eigen::SelfAdjointEigenSolver<MatrixXd> e1(0.5 * (s1 + s1.transpose()));
  const VectorXd root = e1.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  const MatrixXd r1 = e1.eigenvectors() * root.asDiagonal() * e1.eigenvectors().transpose();
  const MatrixXd m = r1 * s2 * r1;
  Eigen::SelfAdjointEigenSolver<MatrixXd> e2(0.5 * (m + m.transpose()), Eigen::EigenvaluesOnly);
  const double tr_covmean = e2.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  return diff.squaredNorm() + s1.trace() + s2.trace() - 2.0 * tr_covmean;
}

GaussianStats read_fid_stats(const std::filesystem::path& path) {
  const auto arrays = read_npz(path);
  const auto mu = arrays.find("mu"), sigma = arrays.find("sigma");
  if (mu == arrays.end() || sigma == arrays.end()) {
    std::vector<std::string> names;
    for (const auto& kv : arrays) names.push_back(kv.first);
    fail("{} has no {} array (FID statistics need 'mu' and 'sigma'; it has: {})", path.string(),
         mu == arrays.end() ? "'mu'" : "'sigma'", names.empty() ? "nothing" : join_limited(names));
  }
  if (mu->second.shape.size() != 1)
    fail("{}: 'mu' must be 1-d, its shape has {} dimensions", path.string(),
         mu->second.shape.size());
  const int64_t d = mu->second.shape[0];
  if (sigma->second.shape != std::vector<int64_t>{d, d})
    fail("{}: 'sigma' must be {}x{} to match 'mu'", path.string(), d, d);
  GaussianStats g;
  g.mu = mu->second.data;
  g.sigma = sigma->second.data;
  if (const auto n = arrays.find("n"); n != arrays.end() && n->second.numel() == 1)
    g.n = static_cast<int64_t>(n->second.data[0]);
  for (double v : g.mu)
    if (!std::isfinite(v)) fail("{}: 'mu' holds a non-finite value", path.string());
  return g;
}

void write_fid_stats(const std::filesystem::path& path, const GaussianStats& stats) {
  NpyArray mu, sigma, n;
  mu.shape = {stats.dims()};
  mu.data = stats.mu;
  sigma.shape = {stats.dims(), stats.dims()};
  sigma.data = stats.sigma;
  n.integer = true;
  n.data = {static_cast<double>(stats.n)};
  write_npz(path, {{"mu", mu}, {"sigma", sigma}, {"n", n}});
}

}  // namespace asdm
