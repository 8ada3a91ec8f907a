#include "pruner/inheritance.h"

#include <nlohmann/json.hpp>

namespace asdm {

nlohmann::json Inheritance::to_json() const {
  nlohmann::json j = header.to_json();
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& t : tensors) {
    if (t.teacher_key.empty())
      entries.push_back(
          {{"student", t.student_key}, {"teacher", nullptr}, {"init", t.init}, {"shape", t.shape}});
    else
      entries.push_back(
          {{"student", t.student_key}, {"teacher", t.teacher_key}, {"shape", t.shape}});
  }
  j["teacher"] = teacher;
  j["student"] = student;
  j["source"] = source;
  j["arch"] = asdm::to_json(arch);
  j["diffusers_expressible"] = diffusers_expressible;
  j["tensors"] = entries;
  j["parameters"] = {{"teacher", teacher_params},
                     {"student", student_params},
                     {"inherited", inherited_params},
                     {"new", new_params}};
  return j;
}

Inheritance Inheritance::from_json(const nlohmann::json& j, const std::string& source) {
  Inheritance s;
  s.header = ArtifactHeader::from_json(j, kArtifact, kSchemaVersion, source, kMadeBy);
  parse_artifact_fields(kArtifact, source, [&] {
    s.teacher = j.at("teacher").get<std::string>();
    s.student = j.at("student").get<std::string>();
    s.source = j.value("source", std::string());
    s.arch = arch_spec_from_json(j.at("arch"));
    s.diffusers_expressible = j.value("diffusers_expressible", false);
    for (const auto& t : j.at("tensors")) {
      InheritanceEntry e;
      e.student_key = t.at("student").get<std::string>();
      if (!t.at("teacher").is_null()) e.teacher_key = t.at("teacher").get<std::string>();
      e.init = t.value("init", std::string());
      e.shape = t.at("shape").get<std::vector<int64_t>>();
      s.tensors.push_back(e);
    }
    const auto& p = j.at("parameters");
    s.teacher_params = p.at("teacher").get<int64_t>();
    s.student_params = p.at("student").get<int64_t>();
    s.inherited_params = p.at("inherited").get<int64_t>();
    s.new_params = p.at("new").get<int64_t>();
  });
  return s;
}

Inheritance Inheritance::read(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void Inheritance::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

}  // namespace asdm
