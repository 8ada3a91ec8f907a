#include "model/tensor_io.h"

#include <cstring>

#include <fmt/ranges.h>

#include <torch/torch.h>

#include "core/error.h"
#include "model/weights_file.h"

namespace asdm {

std::string shape_string(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}
namespace {

// safetensors dtype <-> libtorch dtype, every one of the format's (F8_E4M3 is float8_e4m3fn, as
// safetensors' own torch binding maps it). fp8 checkpoints are read and converted on load.
constexpr std::pair<StorageDType, torch::Dtype> kDTypes[] = {
    {StorageDType::kBool, torch::kBool},
    {StorageDType::kU8, torch::kUInt8},
    {StorageDType::kI8, torch::kInt8},
    {StorageDType::kF8E5M2, torch::kFloat8_e5m2},
    {StorageDType::kF8E4M3, torch::kFloat8_e4m3fn},
    {StorageDType::kI16, torch::kInt16},
    {StorageDType::kU16, torch::kUInt16},
    {StorageDType::kF16, torch::kFloat16},
    {StorageDType::kBF16, torch::kBFloat16},
    {StorageDType::kI32, torch::kInt32},
    {StorageDType::kU32, torch::kUInt32},
    {StorageDType::kF32, torch::kFloat32},
    {StorageDType::kF64, torch::kFloat64},
    {StorageDType::kI64, torch::kInt64},
    {StorageDType::kU64, torch::kUInt64},
};

std::optional<torch::Dtype> torch_dtype(StorageDType d) {
  for (const auto& [st, t] : kDTypes)
    if (st == d) return t;
  return std::nullopt;
}

StorageDType st_dtype(torch::Dtype d, const std::string& name) {
  for (const auto& [st, t] : kDTypes)
    if (t == d) return st;
  fail("tensor '{}' has dtype {} which safetensors output does not support here", name,
       c10::toString(d));
}

}  // namespace

at::Tensor read_tensor(const SafetensorsFile& file, const TensorEntry& e) {
  const auto dt = torch_dtype(e.dtype);
  if (!dt)
    fail("{}: tensor '{}' has dtype {} which asdm cannot load", file.path().string(), e.name,
         to_string(e.dtype));
  at::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(*dt));
  if (e.end > e.begin) std::memcpy(t.data_ptr(), file.data(e), e.end - e.begin);
  return t;
}

at::Tensor map_tensor(const std::shared_ptr<SafetensorsFile>& file, const TensorEntry& e) {
  const auto dt = torch_dtype(e.dtype);
  if (!dt || e.end <= e.begin) return {};
  const size_t element = dtype_size(e.dtype);
  if (reinterpret_cast<uintptr_t>(file->data(e)) % element != 0) return {};
  uint8_t* bytes = file->writable_data(e);
  if (!bytes) return {};
  return torch::from_blob(
      bytes, e.shape, [keep = file](void*) {}, torch::TensorOptions().dtype(*dt));
}

TensorMap read_tensors(const std::filesystem::path& path) {
  return open_weights_file(path)->read_all();
}

namespace {

TensorMap tensors_of(const std::vector<std::filesystem::path>& paths, bool mapped) {
  TensorMap out;
  std::map<std::string, std::filesystem::path> from;
  for (const auto& path : paths) {
    const auto f = open_weights_file(path);
    for (const auto& name : f->names()) {
      if (const auto [it, fresh] = from.emplace(name, path); !fresh)
        fail("tensor '{}' appears in two shards ({} and {})", name, it->second.string(),
             path.string());
      at::Tensor t = mapped ? f->map(name) : at::Tensor();
      out[name] = t.defined() ? t : f->read(name);
    }
  }
  return out;
}

}  // namespace

TensorMap read_tensors(const std::vector<std::filesystem::path>& paths) {
  return tensors_of(paths, false);
}

TensorMap map_tensors(const std::vector<std::filesystem::path>& paths) {
  return tensors_of(paths, true);
}

void write_tensors(const std::filesystem::path& path, const TensorMap& tensors,
                   const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> keep;
  std::vector<TensorView> views;
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.detach().to(torch::kCPU).contiguous();
    keep.push_back(c);
    views.push_back({name, st_dtype(c.scalar_type(), name), c.sizes().vec(), c.data_ptr()});
  }
  write_safetensors(path, views, metadata);
}

}  // namespace asdm
