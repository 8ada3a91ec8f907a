#pragma once
// Comparing artifacts of two runs of the same work: everything but the creation time, argv and
// timings ("seconds" keys at any depth) must be equal.
#include <functional>

#include <nlohmann/json.hpp>

namespace asdm::test {

inline nlohmann::json without_run_details(nlohmann::json j) {
  j.erase("created");
  j.erase("argv");
  std::function<void(nlohmann::json&)> strip = [&](nlohmann::json& v) {
    if (v.is_object()) {
      v.erase("seconds");
      for (auto& [k, x] : v.items()) strip(x);
    } else if (v.is_array()) {
      for (auto& x : v) strip(x);
    }
  };
  strip(j);
  return j;
}

}  // namespace asdm::test
