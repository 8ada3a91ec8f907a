#pragma once
// Per-sample distances between a model's outputs and the teacher's (batch first, any trailing
// shape): normalised MSE and cosine for predictions, PSNR and SSIM for final samples. All are
// computed in float64 on the CPU and are exact at identity (nmse 0, SSIM 1, PSNR capped).
#include <vector>

namespace at {
class Tensor;
}

namespace asdm {

// sum((a - ref)^2) / sum(ref^2) per sample (0 when ref is all zero and a equals it).
std::vector<double> normalised_mse(const at::Tensor& a, const at::Tensor& ref);
// <a, ref> / (|a| |ref|) per sample (1 when both are zero).
std::vector<double> cosine_similarities(const at::Tensor& a, const at::Tensor& ref);

inline constexpr double kPsnrCapDb = 100.0;  // PSNR of identical samples (instead of infinity)

// PSNR in dB per sample, peak `data_range`; data_range <= 0 takes each reference sample's own
// max - min. Capped at kPsnrCapDb.
std::vector<double> psnr(const at::Tensor& a, const at::Tensor& ref, double data_range);

// SSIM per sample of [B, C, H, W] images, as scikit-image computes it by default: a 7x7 uniform
// window (the largest odd window that fits on smaller maps), sample covariances, K1 0.01, K2 0.03,
// the mean over valid window positions and channels. data_range as for psnr.
std::vector<double> ssim(const at::Tensor& a, const at::Tensor& ref, double data_range);

}  // namespace asdm
