#pragma once
// One file of named tensors, whatever its format: safetensors (memory-mapped, model/safetensors.h)
// or torch.save's zip or legacy format (.ckpt, .pt, .pth, .bin; model/torch_save.h), told apart by
// their first bytes, never by the file name. Original single-file Stable Diffusion checkpoints
// (model/single_file.h) and the reference packages' weights (eval/state_dict.h) are read through
// it. Tensors are copied out one at a time, so a 4 GiB checkpoint costs the tensors asked for.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/tensor_io.h"

namespace asdm {

class WeightsFile {
 public:
  virtual ~WeightsFile() = default;
  const std::filesystem::path& path() const { return path_; }
  // The tensors' names, in the file's order.
  virtual const std::vector<std::string>& names() const = 0;
  virtual bool contains(const std::string& name) const = 0;
  // Throws asdm::Error for a name the file lacks.
  virtual std::vector<int64_t> shape(const std::string& name) const = 0;
  // A contiguous CPU tensor in the file's dtype that owns its memory. Throws asdm::Error for a
  // name the file lacks and for damaged bytes.
  virtual at::Tensor read(const std::string& name) const = 0;
  // The tensor over the file's own bytes, no copy, where the format allows (safetensors:
  // model/tensor_io.h's map_tensor; the file stays mapped while the tensor lives, and writing to
  // it never changes the file); else undefined, and read() copies. For a strict load that makes
  // each parameter its file's tensor (model/checkpoint.h).
  virtual at::Tensor map(const std::string& name) const;
  TensorMap read_all() const;

 protected:
  explicit WeightsFile(std::filesystem::path path) : path_(std::move(path)) {}

 private:
  std::filesystem::path path_;
};

// Throws asdm::Error naming the file when it is none of the formats, or damaged.
std::unique_ptr<WeightsFile> open_weights_file(const std::filesystem::path& path);

}  // namespace asdm
