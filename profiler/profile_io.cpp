#include "profiler/profile_io.h"

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"

namespace asdm {

ProfileLatency read_profile_latency(const std::filesystem::path& path) {
  const nlohmann::json j = read_json_file(path);
  ProfileLatency p;
  p.path = path.string();
  if (!j.is_object() || j.value("artifact", "") != "profile")
    fail("{} is not a profile.json (make one with asdm profile)", path.string());
  try {
    p.backend = j.at("backend");
    p.device = j.at("device").value("name", "");
    p.model = j.value("model", "");
    p.forward_ms = j.at("unobserved_forward_ms").at("median");
    if (j.contains("input")) {
      const auto& in = j.at("input");
      p.resolution = in.value("resolution", 0);
      p.batch = in.value("batch", 1);
      p.text_tokens = in.value("text_tokens", 77);
    }
    p.sampler_loop = j.value(nlohmann::json::json_pointer("/mode/kind"), "forward") == "sampler-loop";
    for (const auto& u : j.at("units"))
      p.units[u.at("id")] = {u.at("inclusive_ms").at("median").get<double>(),
                             u.at("exclusive_ms").at("median").get<double>(), u.value("parent", "")};
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a complete profile.json ({})", path.string(), e.what());
  }
  if (p.units.empty()) fail("{}: a profile.json without units", path.string());
  return p;
}

}  // namespace asdm
