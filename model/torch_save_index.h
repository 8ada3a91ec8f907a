#pragma once
// What a torch.save file holds, read without libtorch and without running its pickle: the state
// dict's tensors (names, dtypes, shapes, strides) and where each one's storage lies in the file.
// The zip format (PyTorch >= 1.6; a .ckpt, .pt, .pth or .bin) and the legacy format (torch < 1.6).
// The state dict is the object itself or, in a training checkpoint, its "state_dict" entry
// (PyTorch Lightning's .ckpt, Stable Diffusion's original releases). Everything else a checkpoint
// holds (optimizer states, callbacks, hyper-parameters, objects of any class) is parsed as opaque
// values and skipped; an entry of the state dict that is not a tensor is skipped when it is a
// plain value (a step counter) and refused when it is an object of some class. Storages are
// checked to be in the file and large enough, never read: their CRC-32 is the reader's
// (model/torch_save.h), which builds the tensors. Torch-free, so locate_model, inspect and the
// cost model take a .ckpt as a UNet model (model/model_files.h).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace asdm {

// torch's element types, named as torch pickles them ("float32", "float8_e4m3fn").
enum class TorchDType {
  kFloat32,
  kFloat64,
  kFloat16,
  kBFloat16,
  kInt64,
  kInt32,
  kInt16,
  kInt8,
  kUInt8,
  kBool,
  kUInt16,
  kUInt32,
  kUInt64,
  kComplex64,
  kComplex128,
  kFloat8E4M3fn,
  kFloat8E5M2,
  kFloat8E4M3fnuz,
  kFloat8E5M2fnuz
};
std::string_view to_string(TorchDType dtype);
size_t element_size(TorchDType dtype);  // bytes

struct TorchSaveStorage {
  TorchDType dtype = TorchDType::kUInt8;
  int64_t numel = 0;
  uint64_t offset = 0;   // of its first byte in the file
  bool has_crc = false;  // zip members have one (over member_bytes); legacy storages none
  uint32_t crc = 0;
  uint64_t member_bytes = 0;
};

// A tensor not yet read: where it lies in which storage.
struct TorchSaveTensor {
  std::string storage;
  int64_t offset = 0;  // in elements of dtype
  std::vector<int64_t> size, stride;
  TorchDType dtype = TorchDType::kFloat32;  // the storage's, but for an untyped storage
};

struct TorchSaveIndex {
  std::vector<std::string> names;  // the state dict's order
  std::map<std::string, TorchSaveTensor> tensors;
  std::map<std::string, TorchSaveStorage> storages;
  // Throws asdm::Error naming `source` for a name the state dict lacks.
  const TorchSaveTensor& tensor(const std::string& name, const std::string& source) const;
};

// The index of a whole file image; `source` names the file in messages. Every tensor is checked
// to lie inside its storage and every storage inside the file. Throws asdm::Error.
TorchSaveIndex index_torch_save(std::string_view image, const std::string& source);

}  // namespace asdm
