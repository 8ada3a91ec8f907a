#pragma once
// torch.save files, read without running their pickle: the zip format (PyTorch >= 1.6; a .ckpt,
// .pt, .pth or .bin) memory-mapped, and the legacy format (torch < 1.6). The state dict is the
// object itself or, in a training checkpoint, its "state_dict" entry (PyTorch Lightning's .ckpt,
// Stable Diffusion's original releases). Everything else a checkpoint holds (optimizer states,
// callbacks, hyper-parameters, objects of any class) is parsed as opaque values and skipped, its
// storages never read; an entry of the state dict that is not a tensor is skipped when it is a
// plain value (a step counter) and refused when it is an object of some class. Each storage's
// CRC-32 is checked the first time one of its tensors is read.
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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace asdm
