#pragma once
// Quality of a model's samples on the proxy world, as bench.json and incubation.json record it:
// with the attribute classifier, attribute accuracy and the proxy FID; always PSNR and SSIM against
// a reference model's samples from the same prompts and noise. Plain data, torch-free
// (bench/bench.h's compare_quality computes it).
#include <limits>
#include <map>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace asdm {

struct QualityResult {
  int samples = 0;
  std::map<std::string, double> accuracy;  // per attribute (with a classifier)
  double mean_accuracy = 0, all_correct = 0, fid = 0;
  bool classified = false;
  // With a classifier: the proxy FID of the images against the reference model's images from the
  // same prompts and noise (not against clean renders): how far the sample distribution moved from
  // the reference's. NaN for the reference itself and without a classifier.
  double proxy_fid_vs_reference = std::numeric_limits<double>::quiet_NaN();
  double psnr_db = 0, ssim = 0;  // mean over samples, against the reference's images
  double seconds = 0;            // sampling and scoring
  // Stable Diffusion pipelines with asdm bench --clip / --inception (eval/): torchmetrics' CLIP
  // score of the images against their prompts, and the FID of the images against the reference
  // model's (pytorch-fid's preprocessing, fid_dims-d features). NaN: not measured.
  double clip_score = std::numeric_limits<double>::quiet_NaN();
  double fid_vs_reference = std::numeric_limits<double>::quiet_NaN();
  int fid_dims = 0;
};

// `reference` names the reference in the PSNR/SSIM keys: "psnr_vs_<reference>_db",
// "ssim_vs_<reference>" (bench: "reference"; incubation: "teacher").
nlohmann::json to_json(const QualityResult& q, const std::string& reference = "reference");
QualityResult quality_from_json(const nlohmann::json& j,
                                const std::string& reference = "reference");

}  // namespace asdm
