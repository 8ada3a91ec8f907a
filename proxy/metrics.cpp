#include "proxy/metrics.h"

#include <chrono>
#include <fstream>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "proxy/classifier.h"
#include "proxy/frechet.h"
#include "proxy/pipeline.h"

namespace asdm::proxy {

std::vector<double> classifier_features(const AttributeClassifier& c,
                                        const std::vector<std::vector<uint8_t>>& images) {
  torch::InferenceMode guard;
  std::vector<double> f;
  for (size_t s = 0; s < images.size(); s += 256) {
    std::vector<std::vector<uint8_t>> chunk(images.begin() + s,
                                            images.begin() + std::min(images.size(), s + 256));
    const at::Tensor t = c.forward(chunk).features.to(torch::kFloat64).contiguous();
    f.insert(f.end(), t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  return f;
}

EvalResult score_images(const AttributeClassifier& c,
                        const std::vector<std::vector<uint8_t>>& images,
                        const std::vector<std::string>& prompts, uint64_t seed) {
  ASDM_CHECK(images.size() == prompts.size(), "{} images for {} prompts", images.size(),
             prompts.size());
  const WorldSpec& w = c.world();
  EvalResult r;
  r.n = static_cast<int>(images.size());
  std::vector<Object> truth;
  std::vector<std::vector<uint8_t>> real;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto objects = parse_caption(w, prompts[i]);
    if (objects.size() != 1)
      fail("prompt '{}' has {} objects; the attribute metrics score one", prompts[i],
           objects.size());
    truth.push_back(objects[0]);
    real.push_back(render(w, objects, seed + 7919, i));
  }
  const auto pred = c.predict(images);
  int right[3] = {0, 0, 0}, all = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    const int t[3] = {truth[i].shape, truth[i].colour, truth[i].position};
    bool ok = true;
    for (int a = 0; a < 3; ++a) {
      right[a] += pred[i][a] == t[a];
      ok = ok && pred[i][a] == t[a];
    }
    all += ok;
  }
  double sum = 0;
  for (int a = 0; a < 3; ++a) {
    r.accuracy[AttributeClassifier::attribute_names()[a]] = double(right[a]) / r.n;
    sum += double(right[a]) / r.n;
  }
  r.mean_accuracy = sum / 3;
  r.all_correct = double(all) / r.n;
  if (r.n >= 2) {
    r.fid_terms = frechet_terms(classifier_features(c, images), r.n, classifier_features(c, real),
                                r.n, AttributeClassifier::kFeatureDim);
    r.fid = r.fid_terms.total();
  }
  r.images = images;
  return r;
}

EvalResult evaluate(const ProxyPipeline& p, const AttributeClassifier& c,
                    const std::vector<std::string>& prompts, const EvalOptions& o,
                    const std::function<void(int, int)>& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<uint8_t>> images;
  for (size_t s = 0; s < prompts.size(); s += o.batch) {
    std::vector<std::string> chunk(prompts.begin() + s,
                                   prompts.begin() + std::min(prompts.size(), s + o.batch));
    // Noise of prompt i depends on (seed, i) only, whatever the batching.
    for (auto& im : p.generate(chunk, o.seed, o.sampler, o.observer, s))
      images.push_back(std::move(im));
    if (progress) progress(static_cast<int>(images.size()), static_cast<int>(prompts.size()));
  }
  EvalResult r = score_images(c, images, prompts, o.seed);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

nlohmann::json to_json(const EvalResult& r) {
  return {
      {"samples", r.n},
      {"attribute_accuracy", r.accuracy},
      {"mean_attribute_accuracy", r.mean_accuracy},
      {"all_attributes_correct", r.all_correct},
      {"proxy_fid", r.fid},
      {"proxy_fid_note",
       "Fréchet distance of attribute-classifier features (dim 128), generated vs clean renders "
       "of the same prompts, n = samples"},
      {"proxy_fid_terms",
       {{"mean", r.fid_terms.mean},
        {"covariance", r.fid_terms.covariance},
        {"spread_samples", r.fid_terms.spread_a},
        {"spread_renders", r.fid_terms.spread_b}}},
      {"seconds", r.seconds}};
}

}  // namespace asdm::proxy
