#pragma once
// The Fréchet Inception Distance from feature statistics (torch-free; Eigen in the .cpp):
//   FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2)
// as pytorch-fid and clean-fid compute it (float64 mean, np.cov with n - 1, the trace of the
// matrix square root). The trace is taken as the sum of the square roots of the eigenvalues of
// S1^1/2 S2 S1^1/2, which equal those of S1 S2 (both symmetric positive semi-definite): the same
// number as scipy's sqrtm up to rounding, without its complex arithmetic.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace asdm {

struct GaussianStats {
  int64_t n = 0;              // images behind the statistics; 0 when a file does not say
  std::vector<double> mu;     // [d]
  std::vector<double> sigma;  // [d, d] row-major
  int64_t dims() const { return static_cast<int64_t>(mu.size()); }
};

// Sums of rows and of their outer products, in float64, batch by batch.
class StatsAccumulator {
 public:
  explicit StatsAccumulator(int64_t dims);
  ~StatsAccumulator();
  StatsAccumulator(StatsAccumulator&&) noexcept;
  StatsAccumulator& operator=(StatsAccumulator&&) noexcept;
  void add(const float* rows, int64_t count);  // rows: count x dims
  int64_t count() const;
  int64_t dims() const;
  // Mean and covariance (n - 1). Throws asdm::Error, naming `what`, when fewer than dims + 1
  // images were seen: the covariance is then singular and FID is not defined by it.
  GaussianStats finish(const std::string& what) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// asdm::Error unless `dims` is one of pytorch-fid's Inception layers: 64, 192, 768, 2048.
void check_fid_dims(int dims);

// `n` images of `dims`-d features: the error finish() raises, for checks before the work.
void require_enough_for_fid(int64_t n, int64_t dims, const std::string& what);

// Both statistics of the same dimension, else asdm::Error naming them.
double frechet_distance(const GaussianStats& a, const GaussianStats& b);

// pytorch-fid's .npz layout: float64 `mu` [d] and `sigma` [d, d]; asdm adds `n` (int64), which
// pytorch-fid and clean-fid ignore. Reading names the file and what is missing or mis-shaped.
GaussianStats read_fid_stats(const std::filesystem::path& path);
void write_fid_stats(const std::filesystem::path& path, const GaussianStats& stats);

}  // namespace asdm
