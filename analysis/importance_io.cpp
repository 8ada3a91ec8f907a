#include "analysis/importance_io.h"

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"

namespace asdm {

bool importance_complete(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return false;
  const nlohmann::json j = read_json_file(path);
  return j.is_object() && j.value("artifact", "") == "importance" && j.value("complete", false);
}

ImportanceScores read_importance_scores(const std::filesystem::path& path,
                                        const std::string& metric) {
  if (metric != "tier1" && metric != "tier2")
    fail("importance metric must be tier1 or tier2 (got '{}')", metric);
  const nlohmann::json j = read_json_file(path);
  if (!j.is_object() || j.value("artifact", "") != "importance")
    fail("{} is not an importance.json (make one with asdm ablate)", path.string());
  if (!j.value("complete", false))
    fail("{} is unfinished; finish it with asdm ablate --resume", path.string());
  ImportanceScores s;
  s.path = path.string();
  s.metric = metric;
  s.subject = j.value(nlohmann::json::json_pointer("/settings/subject"), "");
  parse_artifact_fields("importance", path.string(), [&] {
    const nlohmann::json& st = j.at("settings");
    ImportanceRunSettings& r = s.settings;
    r.timesteps = st.at("timesteps").get<int>();
    r.sampler = st.at("sampler").at("name").get<std::string>();
    r.steps = st.at("sampler").at("steps").get<int>();
    r.guidance = st.at("sampler").at("guidance").get<double>();
    r.seed = st.at("seed").get<uint64_t>();
    r.batch = st.at("batch").get<int>();
    r.prompts = st.at("prompts").at("count").get<int>();
    r.prompts_sha256 = st.at("prompts").at("sha256").get<std::string>();
  });
  const nlohmann::json::json_pointer p(metric == "tier1" ? "/tier1/nmse/mean"
                                                         : "/tier2/ssim_loss/mean");
  for (const auto& r : j.value("results", nlohmann::json::array()))
    if (r.value("kind", "") != "group" && r.contains(p) && r.at(p).is_number())
      s.units[r.at("id")] = r.at(p).get<double>();
  if (s.units.empty())
    fail("{} has no {} scores", path.string(), metric == "tier1" ? "tier-1" : "tier-2");
  return s;
}

}  // namespace asdm
