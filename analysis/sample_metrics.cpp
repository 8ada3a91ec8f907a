#include "analysis/sample_metrics.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "core/error.h"
#include "model/tensor_io.h"

namespace asdm {

namespace {

// Both as [B, N] float64 CPU tensors.
std::pair<at::Tensor, at::Tensor> flat_pair(const at::Tensor& a, const at::Tensor& ref) {
  ASDM_CHECK(a.sizes() == ref.sizes(), "shapes differ: {} vs {}", shape_string(a.sizes().vec()),
             shape_string(ref.sizes().vec()));
  ASDM_CHECK(a.dim() >= 1 && a.size(0) > 0, "empty batch");
  const int64_t b = a.size(0);
  return {a.detach().to(torch::kCPU, torch::kFloat64).reshape({b, -1}),
          ref.detach().to(torch::kCPU, torch::kFloat64).reshape({b, -1})};
}

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

at::Tensor ranges(const at::Tensor& ref_flat, double data_range) {
  if (data_range > 0) return torch::full({ref_flat.size(0)}, data_range, torch::kFloat64);
  return std::get<0>(ref_flat.max(1)) - std::get<0>(ref_flat.min(1));
}

}  // namespace

std::vector<double> normalised_mse(const at::Tensor& a, const at::Tensor& ref) {
  const auto [x, y] = flat_pair(a, ref);
  const at::Tensor num = (x - y).pow(2).sum(1), den = y.pow(2).sum(1);
  return to_vector(torch::where(den > 0, num / den.clamp_min(1e-300), num));
}

std::vector<double> cosine_similarities(const at::Tensor& a, const at::Tensor& ref) {
  const auto [x, y] = flat_pair(a, ref);
  const at::Tensor dot = (x * y).sum(1), nx = x.pow(2).sum(1).sqrt(), ny = y.pow(2).sum(1).sqrt();
  const at::Tensor both_zero = (nx == 0) & (ny == 0);
  return to_vector(
      torch::where(both_zero, torch::ones_like(dot), dot / (nx * ny).clamp_min(1e-300)));
}

std::vector<double> psnr(const at::Tensor& a, const at::Tensor& ref, double data_range) {
  const auto [x, y] = flat_pair(a, ref);
  const auto mse = to_vector((x - y).pow(2).mean(1));
  const auto r = to_vector(ranges(y, data_range));
  std::vector<double> out(mse.size());
  for (size_t i = 0; i < mse.size(); ++i)
    out[i] = mse[i] == 0 ? kPsnrCapDb : std::min(kPsnrCapDb, 10 * std::log10(r[i] * r[i] / mse[i]));
  return out;
}

std::vector<double> ssim(const at::Tensor& a, const at::Tensor& ref, double data_range) {
  ASDM_CHECK(a.dim() == 4, "ssim takes [B, C, H, W] (got {} dims)", a.dim());
  const auto [xf, yf] = flat_pair(a, ref);
  const at::Tensor x = xf.view(a.sizes()), y = yf.view(a.sizes());
  int win = 7;
  while (win > 1 && (win > a.size(2) || win > a.size(3))) win -= 2;
  const double np = double(win) * win, cov_norm = np > 1 ? np / (np - 1) : 1.0;
  auto mean = [&](const at::Tensor& t) { return torch::avg_pool2d(t, win, 1); };
  const at::Tensor ux = mean(x), uy = mean(y);
  const at::Tensor vx = cov_norm * (mean(x * x) - ux * ux), vy = cov_norm * (mean(y * y) - uy * uy);
  const at::Tensor vxy = cov_norm * (mean(x * y) - ux * uy);
  const at::Tensor r = ranges(yf, data_range).view({-1, 1, 1, 1});
  const at::Tensor c1 = (0.01 * r).pow(2), c2 = (0.03 * r).pow(2);
  const at::Tensor s =
      ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
  return to_vector(s.mean({1, 2, 3}));
}

}  // namespace asdm
