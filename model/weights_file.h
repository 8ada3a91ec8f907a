#pragma once
// One file of named tensors, whatever its format: safetensors (memory-mapped, model/safetensors.h)
// or torch.save's zip or legacy format (.ckpt, .pt, .pth, .bin; model/torch_save.h), told apart by
// their first bytes, never by the file name. Original single-file Stable Diffusion checkpoints
// (sd/single_file.h) and the reference packages' weights (eval/state_dict.h) are read through it.
// Tensors are copied out one at a time, so a 4 GiB checkpoint costs the tensors asked for.
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

// Whether a file of `file_size` bytes that starts with `head` (its first min(8, size) bytes) is a
// torch.save file rather than safetensors: zip's "PK\3\4", or a pickle (0x80, protocol 2..5) whose
// bytes, read as a safetensors header length, could not be one.
bool is_torch_save(const uint8_t* head, size_t n, uint64_t file_size);

}  // namespace asdm
