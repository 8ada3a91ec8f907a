#pragma once
// The proxy world's attribute classifier (issue 4 item 6): a small CNN trained on clean rendered
// images that predicts each attribute of a single-object image (shape, colour, position). Its
// predictions score generated images against their captions (attribute accuracy, our analogue of
// the CLIP score) and its penultimate features give the proxy FID.
#include <array>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>  // Output holds tensors by value

#include "proxy/world.h"

namespace asdm::proxy {

class AttributeClassifier {
 public:
  explicit AttributeClassifier(const WorldSpec& world);
  ~AttributeClassifier();
  AttributeClassifier(const AttributeClassifier&) = delete;
  AttributeClassifier& operator=(const AttributeClassifier&) = delete;

  struct Output {
    std::vector<at::Tensor> logits;  // one [B, classes] per attribute: shape, colour, position
    at::Tensor features;             // [B, feature_dim]
  };
  static constexpr int kFeatureDim = 128;
  static const std::vector<std::string>& attribute_names();  // shape, colour, position

  // uint8 HWC images of the world's size.
  Output forward(const std::vector<std::vector<uint8_t>>& images) const;
  // Predicted class per attribute, [n][3].
  std::vector<std::array<int, 3>> predict(const std::vector<std::vector<uint8_t>>& images) const;

  const WorldSpec& world() const;
  void save(const std::filesystem::path& dir) const;  // config.json (the world) + model.safetensors
  static std::unique_ptr<AttributeClassifier> load(const std::filesystem::path& dir);

  struct TrainOptions {
    int steps = 600, batch = 64;
    double lr = 2e-3;
    uint64_t seed = 77;
  };
  // Trains on the world's stream (seed); returns the accuracy on `holdout` examples of another
  // seed: every attribute right.
  double train(const TrainOptions& o, int holdout = 1000,
               const std::function<void(int, int, double)>& progress = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace asdm::proxy
