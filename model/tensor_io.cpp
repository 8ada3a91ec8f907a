#include "model/tensor_io.h"

#include <cstring>

#include <torch/torch.h>

#include "core/error.h"

namespace asdm {
namespace {

std::optional<torch::Dtype> torch_dtype(DType d) {
  switch (d) {
    case DType::kBool:
      return torch::kBool;
    case DType::kU8:
      return torch::kUInt8;
    case DType::kI8:
      return torch::kInt8;
    case DType::kI16:
      return torch::kInt16;
    case DType::kF16:
      return torch::kFloat16;
    case DType::kBF16:
      return torch::kBFloat16;
    case DType::kI32:
      return torch::kInt32;
    case DType::kF32:
      return torch::kFloat32;
    case DType::kF64:
      return torch::kFloat64;
    case DType::kI64:
      return torch::kInt64;
    default:
      return std::nullopt;
  }
}

DType st_dtype(torch::Dtype d, const std::string& name) {
  switch (d) {
    case torch::kBool:
      return DType::kBool;
    case torch::kUInt8:
      return DType::kU8;
    case torch::kInt8:
      return DType::kI8;
    case torch::kInt16:
      return DType::kI16;
    case torch::kFloat16:
      return DType::kF16;
    case torch::kBFloat16:
      return DType::kBF16;
    case torch::kInt32:
      return DType::kI32;
    case torch::kFloat32:
      return DType::kF32;
    case torch::kFloat64:
      return DType::kF64;
    case torch::kInt64:
      return DType::kI64;
    default:
      fail("tensor '{}' has dtype {} which safetensors output does not support here", name,
           c10::toString(d));
  }
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

TensorMap read_tensors(const std::filesystem::path& path) {
  SafetensorsFile f(path);
  TensorMap out;
  for (const auto& e : f.header().tensors) out[e.name] = read_tensor(f, e);
  return out;
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
