#include "core/dtype.h"

#include "core/error.h"

namespace asdm {
namespace {

struct Name {
  DType dtype;
  std::string_view name, short_name;
};

constexpr Name kNames[] = {{DType::kFloat32, "float32", "fp32"},
                           {DType::kFloat16, "float16", "fp16"},
                           {DType::kBFloat16, "bfloat16", "bf16"}};

}  // namespace

DType parse_dtype(std::string_view name) {
  for (const auto& n : kNames)
    if (name == n.name || name == n.short_name) return n.dtype;
  fail("unknown dtype '{}' (known: float32, float16, bfloat16; or fp32, fp16, bf16)", name);
}

std::string_view to_string(DType dtype) {
  for (const auto& n : kNames)
    if (n.dtype == dtype) return n.name;
  ASDM_CHECK(false, "dtype {} has no name", static_cast<int>(dtype));
}

std::string_view short_name(DType dtype) {
  for (const auto& n : kNames)
    if (n.dtype == dtype) return n.short_name;
  ASDM_CHECK(false, "dtype {} has no name", static_cast<int>(dtype));
}

const std::vector<std::string>& dtype_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& n : kNames) v.emplace_back(n.name);
    for (const auto& n : kNames) v.emplace_back(n.short_name);
    return v;
  }();
  return names;
}

}  // namespace asdm
