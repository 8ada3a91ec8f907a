#include "proxy/frechet.h"

#include <Eigen/Dense>

#include "core/error.h"

namespace asdm::proxy {

namespace {

void moments(const std::vector<double>& x, int n, int dim, Eigen::VectorXd& mu,
             Eigen::MatrixXd& cov) {
  if (n < 2) fail("the Fréchet distance needs at least 2 samples per set (got {})", n);
  if (x.size() != size_t(n) * dim)
    fail("feature array of {} values is not {} x {}", x.size(), n, dim);
  Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> m(
      x.data(), n, dim);
  mu = m.colwise().mean();
  const Eigen::MatrixXd c = m.rowwise() - mu.transpose();
  cov = (c.transpose() * c) / double(n - 1);
}

Eigen::MatrixXd sqrt_psd(const Eigen::MatrixXd& s) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(s);
  const Eigen::VectorXd ev = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * ev.asDiagonal() * es.eigenvectors().transpose();
}

}  // namespace

FrechetTerms frechet_terms(const std::vector<double>& a, int n_a, const std::vector<double>& b,
                           int n_b, int dim) {
  Eigen::VectorXd m1, m2;
  Eigen::MatrixXd s1, s2;
  moments(a, n_a, dim, m1, s1);
  moments(b, n_b, dim, m2, s2);
  const Eigen::MatrixXd r1 = sqrt_psd(s1);
  Eigen::MatrixXd inner = r1 * s2 * r1;
  inner = 0.5 * (inner + inner.transpose());  // symmetric up to rounding
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(inner, Eigen::EigenvaluesOnly);
  const double tr_sqrt = es.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  FrechetTerms t;
  t.mean = (m1 - m2).squaredNorm();
  t.spread_a = s1.trace();
  t.spread_b = s2.trace();
  t.covariance = t.spread_a + t.spread_b - 2 * tr_sqrt;
  return t;
}

double frechet_distance(const std::vector<double>& a, int n_a, const std::vector<double>& b,
                        int n_b, int dim) {
  return frechet_terms(a, n_a, b, n_b, dim).total();
}

}  // namespace asdm::proxy
