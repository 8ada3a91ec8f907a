#pragma once
// Quality of a model's samples on the proxy world, as bench.json and incubation.json record it:
// with the attribute classifier, attribute accuracy and the proxy FID; always PSNR and SSIM against
// a reference model's samples from the same prompts and noise. Plain data, torch-free
// (bench/bench.h's compare_quality computes it).
#include <map>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace asdm {

struct QualityResult {
  int samples = 0;
  std::map<std::string, double> accuracy;  // per attribute (with a classifier)
  double mean_accuracy = 0, all_correct = 0, fid = 0;
  bool classified = false;
  double psnr_db = 0, ssim = 0;  // mean over samples, against the reference's images
  double seconds = 0;            // sampling and scoring
};

// `reference` names the reference in the PSNR/SSIM keys: "psnr_vs_<reference>_db",
// "ssim_vs_<reference>" (bench: "reference"; incubation: "teacher").
nlohmann::json to_json(const QualityResult& q, const std::string& reference = "reference");
QualityResult quality_from_json(const nlohmann::json& j,
                                const std::string& reference = "reference");

}  // namespace asdm
