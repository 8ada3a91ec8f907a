#pragma once
// torch.save files' tensors (the zip format, memory-mapped, and the legacy format), read without
// running their pickle: model/torch_save_index.h finds the state dict (the object itself or a
// training checkpoint's "state_dict" entry) and where each tensor lies; this builds the tensors.
// Each storage's CRC-32 is checked the first time one of its tensors is read or mapped.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/weights_file.h"

namespace asdm {

class TorchSaveFile final : public WeightsFile {
 public:
  // Memory-maps the file; parses its pickle and checks every tensor against its storage.
  explicit TorchSaveFile(const std::filesystem::path& path);
  // The same over a file's bytes (tests, the fuzzer); `source` names it in messages.
  TorchSaveFile(std::string bytes, const std::string& source);
  ~TorchSaveFile() override;
  TorchSaveFile(const TorchSaveFile&) = delete;
  TorchSaveFile& operator=(const TorchSaveFile&) = delete;

  const std::vector<std::string>& names() const override;
  bool contains(const std::string& name) const override;
  std::vector<int64_t> shape(const std::string& name) const override;
  at::Tensor read(const std::string& name) const override;
  // Over the mapped file's bytes (copy-on-write) when the tensor is its storage's only one, of the
  // storage's dtype, contiguous and aligned; else undefined (read() copies).
  at::Tensor map(const std::string& name) const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace asdm
