#pragma once
// The one dtype vocabulary: the floating-point types asdm runs and stores weights in, with one
// name table. Every --dtype option and every dtype string in asdm goes through parse_dtype.
#include <string>
#include <string_view>
#include <vector>

namespace asdm {

enum class DType { kFloat32, kFloat16, kBFloat16 };

// "float32" or "fp32", "float16" or "fp16", "bfloat16" or "bf16"; asdm::Error naming the value and
// the known names otherwise.
DType parse_dtype(std::string_view name);
std::string_view to_string(DType dtype);   // "float32", "float16", "bfloat16" (torch's names)
std::string_view short_name(DType dtype);  // "fp32", "fp16", "bf16"
// Every accepted spelling, long names first (for CLI validators).
const std::vector<std::string>& dtype_names();

}  // namespace asdm
