#pragma once
// The run fields importance.json's and temporal.json's settings share — subject, prompts, tier,
// sampler, seed, batch, bootstrap, profile, sample shape and output space — written and read the
// same way for both structs (ImportanceSettings, TemporalSettings). Internal to analysis/.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace asdm {

template <class S>
nlohmann::json run_settings_json(const S& s) {
  return {{"subject", s.subject},
          {"prompts", {{"count", s.prompts}, {"sha256", s.prompts_sha256}}},
          {"tier", s.tier},
          {"sampler",
           {{"name", s.sampler},
            {"steps", s.steps},
            {"guidance", s.guidance},
            {"prediction", s.prediction},
            {"spacing", s.spacing},
            {"steps_offset", s.steps_offset}}},
          {"seed", s.seed},
          {"batch", s.batch},
          {"bootstrap", s.bootstrap},
          {"profile", s.profile},
          {"sample_shape", s.sample_shape},
          {"output_space", s.output_space}};
}

template <class S>
void read_run_settings(const nlohmann::json& j, S& s) {
  s.subject = j.at("subject").get<std::string>();
  s.prompts = j.at("prompts").at("count").get<int>();
  s.prompts_sha256 = j.at("prompts").at("sha256").get<std::string>();
  s.tier = j.at("tier").get<std::string>();
  const nlohmann::json& sm = j.at("sampler");
  s.sampler = sm.at("name").get<std::string>();
  s.steps = sm.at("steps").get<int>();
  s.guidance = sm.at("guidance").get<double>();
  s.prediction = sm.at("prediction").get<std::string>();
  s.spacing = sm.at("spacing").get<std::string>();
  s.steps_offset = sm.at("steps_offset").get<int>();
  s.seed = j.at("seed").get<uint64_t>();
  s.batch = j.at("batch").get<int>();
  s.bootstrap = j.at("bootstrap").get<int>();
  s.profile = j.at("profile").get<std::string>();
  s.sample_shape = j.at("sample_shape").get<std::vector<int64_t>>();
  s.output_space = j.at("output_space").get<std::string>();
}

}  // namespace asdm
