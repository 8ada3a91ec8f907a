#pragma once
// Quality of a proxy pipeline (issue 4 item 7): sample every prompt, then score the images with the
// attribute classifier against the prompts (per attribute, mean over attributes, all attributes
// right: our CLIP-score analogue) and the proxy FID (Fréchet distance between classifier features
// of the generated images and of clean renders of the same prompts; n stated).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/sampler.h"
#include "proxy/frechet.h"

namespace asdm {
class UnitObserver;
}

namespace asdm::proxy {

struct ProxyPipeline;
class AttributeClassifier;

struct EvalOptions {
  SamplerOptions sampler;  // steps, guidance, ddim/euler (prediction comes from the pipeline)
  uint64_t seed = 0;       // noise of prompt i: a function of (seed, i)
  int batch = 50;          // prompts sampled together
  UnitObserver* observer = nullptr;  // e.g. an ablation bypass
};

struct EvalResult {
  int n = 0;
  std::map<std::string, double> accuracy;  // shape, colour, position
  double mean_accuracy = 0, all_correct = 0, fid = 0;
  FrechetTerms fid_terms;  // fid's mean and covariance terms; spread_a: the samples', b: renders'
  double seconds = 0;
  std::vector<std::vector<uint8_t>> images;
};

// The classifier's penultimate features of images, row-major [n, AttributeClassifier::kFeatureDim]
// (what the proxy FID compares).
std::vector<double> classifier_features(const AttributeClassifier& classifier,
                                        const std::vector<std::vector<uint8_t>>& images);

// Scores given images against their prompts (single-object captions of the classifier's world).
EvalResult score_images(const AttributeClassifier& classifier,
                        const std::vector<std::vector<uint8_t>>& images,
                        const std::vector<std::string>& prompts, uint64_t seed);

EvalResult evaluate(const ProxyPipeline& pipeline, const AttributeClassifier& classifier,
                    const std::vector<std::string>& prompts, const EvalOptions& options,
                    const std::function<void(int, int)>& progress = {});

nlohmann::json to_json(const EvalResult& r);

}  // namespace asdm::proxy
