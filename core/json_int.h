#pragma once
// Integers read from other tools' JSON (diffusers and transformers configs) without nlohmann's
// silent narrowing: its get<int>() keeps the low 32 bits, so 2^32 + 2 reads as 2.
#include <limits>
#include <optional>

#include <nlohmann/json_fwd.hpp>

namespace asdm {

// `v` when it is a JSON integer within [low, high], else nothing (a float, a string, a value an
// int does not hold, or one outside the bounds).
std::optional<int> json_int(const nlohmann::json& v, int low = std::numeric_limits<int>::min(),
                            int high = std::numeric_limits<int>::max());

}  // namespace asdm
