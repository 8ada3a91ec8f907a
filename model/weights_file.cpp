#include "model/weights_file.h"

#include <map>

#include <torch/torch.h>

#include "core/error.h"
#include "model/safetensors.h"
#include "model/torch_save.h"

namespace asdm {
namespace {

class SafetensorsWeights final : public WeightsFile {
 public:
  explicit SafetensorsWeights(const std::filesystem::path& path)
      : WeightsFile(path), file_(std::make_shared<SafetensorsFile>(path)) {
    for (const auto& e : file_->header().tensors) {
      names_.push_back(e.name);
      index_.emplace(e.name, &e);
    }
  }
  const std::vector<std::string>& names() const override { return names_; }
  bool contains(const std::string& name) const override { return index_.count(name) > 0; }
  std::vector<int64_t> shape(const std::string& name) const override { return entry(name).shape; }
  at::Tensor read(const std::string& name) const override {
    return read_tensor(*file_, entry(name));
  }
  at::Tensor map(const std::string& name) const override { return map_tensor(file_, entry(name)); }

 private:
  const TensorEntry& entry(const std::string& name) const {
    const auto it = index_.find(name);
    if (it == index_.end()) fail("'{}' has no tensor '{}'", path().string(), name);
    return *it->second;
  }

  std::shared_ptr<SafetensorsFile> file_;  // shared with the tensors map() hands out
  std::vector<std::string> names_;
  std::map<std::string, const TensorEntry*> index_;
};

}  // namespace

at::Tensor WeightsFile::map(const std::string&) const { return {}; }

TensorMap WeightsFile::read_all() const {
  TensorMap out;
  for (const auto& name : names()) out[name] = read(name);
  return out;
}

std::unique_ptr<WeightsFile> open_weights_file(const std::filesystem::path& path) {
  if (is_torch_save_file(path)) return std::make_unique<TorchSaveFile>(path);
  return std::make_unique<SafetensorsWeights>(path);  // its own errors name the file
}

}  // namespace asdm
