#include "core/json_int.h"

#include <cstdint>

#include <nlohmann/json.hpp>

namespace asdm {

std::optional<int> json_int(const nlohmann::json& v, int low, int high) {
  int64_t i = 0;
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return std::nullopt;
    i = static_cast<int64_t>(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    i = v.get<int64_t>();
  } else {
    return std::nullopt;
  }
  if (i < low || i > high) return std::nullopt;
  return static_cast<int>(i);
}

}  // namespace asdm
