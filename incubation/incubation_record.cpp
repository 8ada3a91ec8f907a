#include "incubation/incubation_record.h"

#include <nlohmann/json.hpp>

namespace asdm {

nlohmann::json IncubationRecord::to_json() const {
  nlohmann::json j = header.to_json();
  j["teacher"] = teacher;
  j["student"] = student;
  j["schedule"] = schedule;
  j["output"] = output;
  j["steps"] = steps;
  j["seconds"] = seconds;
  j["log"] = log;
  if (eval) {
    nlohmann::json e = nlohmann::json::object();
    for (const auto& [name, q] : *eval) e[name] = asdm::to_json(q, "teacher");
    j["eval"] = e;
  }
  return j;
}

IncubationRecord IncubationRecord::from_json(const nlohmann::json& j, const std::string& source) {
  IncubationRecord r;
  r.header = ArtifactHeader::from_json(j, kArtifact, kSchemaVersion, source, kMadeBy);
  parse_artifact_fields(kArtifact, source, [&] {
    r.teacher = j.at("teacher").get<std::string>();
    r.student = j.at("student").get<std::string>();
    r.schedule = j.at("schedule").get<std::string>();
    r.output = j.at("output").get<std::string>();
    r.steps = j.at("steps").get<int>();
    r.seconds = j.at("seconds").get<double>();
    r.log = j.at("log").get<std::string>();
    if (j.contains("eval")) {
      r.eval.emplace();
      for (const auto& [name, q] : j.at("eval").items())
        (*r.eval)[name] = quality_from_json(q, "teacher");
    }
  });
  return r;
}

IncubationRecord IncubationRecord::read(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void IncubationRecord::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

}  // namespace asdm
