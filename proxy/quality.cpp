#include "proxy/quality.h"

#include <cmath>

#include <nlohmann/json.hpp>

namespace asdm {

nlohmann::json to_json(const QualityResult& q, const std::string& reference) {
  nlohmann::json j = {{"samples", q.samples},
                      {"psnr_vs_" + reference + "_db", q.psnr_db},
                      {"ssim_vs_" + reference, q.ssim},
                      {"seconds", q.seconds}};
  if (std::isfinite(q.clip_score)) j["clip_score"] = q.clip_score;
  if (std::isfinite(q.fid_vs_reference)) {
    j["fid_vs_" + reference] = q.fid_vs_reference;
    j["fid_dims"] = q.fid_dims;
  }
  if (q.classified) {
    j["attribute_accuracy"] = q.accuracy;
    j["mean_attribute_accuracy"] = q.mean_accuracy;
    j["all_attributes_correct"] = q.all_correct;
    j["proxy_fid"] = q.fid;
    j["proxy_fid_note"] =
        "Fréchet distance of attribute-classifier features (dim 128), generated vs clean renders "
        "of the same prompts, n = samples";
    if (std::isfinite(q.proxy_fid_vs_reference)) {
      j["proxy_fid_vs_" + reference] = q.proxy_fid_vs_reference;
      j["proxy_fid_vs_" + reference + "_note"] =
          "Fréchet distance of attribute-classifier features (dim 128), generated vs the " +
          reference + " model's samples from the same prompts and noise, n = samples";
    }
  }
  return j;
}

QualityResult quality_from_json(const nlohmann::json& j, const std::string& reference) {
  QualityResult q;
  q.samples = j.at("samples").get<int>();
  q.psnr_db = j.at("psnr_vs_" + reference + "_db").get<double>();
  q.ssim = j.at("ssim_vs_" + reference).get<double>();
  q.seconds = j.value("seconds", 0.0);
  if (j.contains("clip_score")) q.clip_score = j.at("clip_score").get<double>();
  if (j.contains("fid_vs_" + reference)) {
    q.fid_vs_reference = j.at("fid_vs_" + reference).get<double>();
    q.fid_dims = j.at("fid_dims").get<int>();
  }
  q.classified = j.contains("mean_attribute_accuracy");
  if (q.classified) {
    q.accuracy = j.at("attribute_accuracy").get<std::map<std::string, double>>();
    q.mean_accuracy = j.at("mean_attribute_accuracy").get<double>();
    q.all_correct = j.at("all_attributes_correct").get<double>();
    q.fid = j.at("proxy_fid").get<double>();
    if (j.contains("proxy_fid_vs_" + reference))
      q.proxy_fid_vs_reference = j.at("proxy_fid_vs_" + reference).get<double>();
  }
  return q;
}

}  // namespace asdm
