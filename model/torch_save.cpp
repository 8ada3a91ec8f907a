#include "model/torch_save.h"

#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string_view>

#include <torch/torch.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/zip.h"
#include "model/torch_save_index.h"

namespace asdm {
namespace {

c10::ScalarType scalar_type(TorchDType dtype) {
  switch (dtype) {
    case TorchDType::kFloat32:
      return torch::kFloat32;
    case TorchDType::kFloat64:
      return torch::kFloat64;
    case TorchDType::kFloat16:
      return torch::kFloat16;
    case TorchDType::kBFloat16:
      return torch::kBFloat16;
    case TorchDType::kInt64:
      return torch::kInt64;
    case TorchDType::kInt32:
      return torch::kInt32;
    case TorchDType::kInt16:
      return torch::kInt16;
    case TorchDType::kInt8:
      return torch::kInt8;
    case TorchDType::kUInt8:
      return torch::kUInt8;
    case TorchDType::kBool:
      return torch::kBool;
    case TorchDType::kUInt16:
      return torch::kUInt16;
    case TorchDType::kUInt32:
      return torch::kUInt32;
    case TorchDType::kUInt64:
      return torch::kUInt64;
    case TorchDType::kComplex64:
      return torch::kComplexFloat;
    case TorchDType::kComplex128:
      return torch::kComplexDouble;
    case TorchDType::kFloat8E4M3fn:
      return torch::kFloat8_e4m3fn;
    case TorchDType::kFloat8E5M2:
      return torch::kFloat8_e5m2;
    case TorchDType::kFloat8E4M3fnuz:
      return torch::kFloat8_e4m3fnuz;
    case TorchDType::kFloat8E5M2fnuz:
      return torch::kFloat8_e5m2fnuz;
  }
  return torch::kFloat32;
}

}  // namespace

struct TorchSaveFile::Impl {
  std::string source;
  std::shared_ptr<MappedFile> mapped;  // shared with the tensors map() hands out
  std::string owned;                   // the bytes, when not mapped
  std::string_view image;
  TorchSaveIndex index;
  std::map<std::string, int> users;       // tensors per storage
  mutable std::set<std::string> checked;  // storages whose CRC-32 has been checked

  void parse() {
    index = index_torch_save(image, source);
    for (const auto& [name, t] : index.tensors) ++users[t.storage];
  }
  // The storage's bytes, CRC-checked the first time.
  const char* storage_bytes(const std::string& tensor, const TorchSaveTensor& t) const {
    const TorchSaveStorage& s = index.storages.at(t.storage);
    const char* data = image.data() + s.offset;
    if (!checked.count(t.storage)) {
      if (s.has_crc && crc32(data, s.member_bytes) != s.crc)
        fail("{}: the storage of tensor '{}' fails its CRC-32 check (the file is damaged)", source,
             tensor);
      checked.insert(t.storage);  // once per storage: not thread-safe, like a WeightsFile
    }
    return data;
  }
};

TorchSaveFile::TorchSaveFile(const std::filesystem::path& path)
    : WeightsFile(path), impl_(std::make_unique<Impl>()) {
  impl_->source = path.string();
  impl_->mapped = std::make_shared<MappedFile>(path);
  impl_->image = impl_->mapped->bytes();
  impl_->parse();
}

TorchSaveFile::TorchSaveFile(std::string bytes, const std::string& source)
    : WeightsFile(source), impl_(std::make_unique<Impl>()) {
  impl_->source = source;
  impl_->owned = std::move(bytes);
  impl_->image = impl_->owned;
  impl_->parse();
}

TorchSaveFile::~TorchSaveFile() = default;

const std::vector<std::string>& TorchSaveFile::names() const { return impl_->index.names; }

bool TorchSaveFile::contains(const std::string& name) const {
  return impl_->index.tensors.count(name) > 0;
}

std::vector<int64_t> TorchSaveFile::shape(const std::string& name) const {
  return impl_->index.tensor(name, impl_->source).size;
}

at::Tensor TorchSaveFile::read(const std::string& name) const {
  const TorchSaveTensor& t = impl_->index.tensor(name, impl_->source);
  const TorchSaveStorage& s = impl_->index.storages.at(t.storage);
  const size_t item = element_size(t.dtype);
  const int64_t numel = s.numel * static_cast<int64_t>(element_size(s.dtype)) /
                        static_cast<int64_t>(item);  // in the tensor's elements
  const char* data = impl_->storage_bytes(name, t);
  const auto options = torch::TensorOptions().dtype(scalar_type(t.dtype));
  at::Tensor storage;
  if (reinterpret_cast<uintptr_t>(data) % item == 0) {
    // A view of the mapped bytes, only read: the clone below copies what the tensor uses.
    storage = torch::from_blob(const_cast<char*>(data), {numel}, options);
  } else {
    storage = torch::empty({numel}, options);
    std::memcpy(storage.data_ptr(), data, numel * item);
  }
  return storage.as_strided(t.size, t.stride, t.offset).clone(at::MemoryFormat::Contiguous);
}

at::Tensor TorchSaveFile::map(const std::string& name) const {
  const TorchSaveTensor& t = impl_->index.tensor(name, impl_->source);
  const TorchSaveStorage& s = impl_->index.storages.at(t.storage);
  // Only a storage of the tensor's dtype that no other tensor uses (two parameters must not
  // share bytes), holding it contiguously.
  if (!impl_->mapped || t.dtype != s.dtype || impl_->users.at(t.storage) != 1) return {};
  int64_t numel = 1;  // after dimension i: its contiguous stride
  for (size_t i = t.size.size(); i-- > 0;) {
    if (t.size[i] != 1 && t.stride[i] != numel) return {};
    numel *= t.size[i];
  }
  const size_t item = element_size(t.dtype);
  const uint64_t first = s.offset + static_cast<uint64_t>(t.offset) * item;
  if (numel == 0 || (reinterpret_cast<uintptr_t>(impl_->image.data()) + first) % item != 0)
    return {};
  impl_->storage_bytes(name, t);
  unsigned char* bytes = impl_->mapped->make_writable(first, numel * item);
  if (!bytes) return {};
  return torch::from_blob(
      bytes, t.size, [keep = impl_->mapped](void*) {},
      torch::TensorOptions().dtype(scalar_type(t.dtype)));
}

}  // namespace asdm
