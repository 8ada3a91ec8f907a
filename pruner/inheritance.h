#pragma once
// inheritance.json (DESIGN.md §8), torch-free: which teacher tensor every student tensor was copied
// from (or how it was initialised), the student's ArchSpec and parameter counts. Written by asdm
// build beside the student's weights (pruner/build_student.h); read by asdm incubate for students
// whose folder is a stock diffusers config (BK-SDM presets) and by reports.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/artifact.h"
#include "model/arch_spec.h"

namespace asdm {

struct InheritanceEntry {
  std::string student_key;
  std::string teacher_key;  // "": no teacher tensor (see init)
  std::string init;         // with no teacher tensor: how it starts ("zeros")
  std::vector<int64_t> shape;
};

struct Inheritance {
  static constexpr const char* kArtifact = "inheritance";
  static constexpr int kSchemaVersion = 1;
  static constexpr const char* kMadeBy = "asdm build writes one beside the student's weights";
  ArtifactHeader header;

  std::string teacher;  // the teacher folder
  std::string student;  // the student's name: c3, c3+clme, bk-sdm-small
  std::string source;   // candidates.json or "BK-SDM preset <name>"
  ArchSpec arch;
  bool diffusers_expressible = false;
  std::vector<InheritanceEntry> tensors;
  int64_t teacher_params = 0, student_params = 0, inherited_params = 0, new_params = 0;

  nlohmann::json to_json() const;
  static Inheritance from_json(const nlohmann::json& j, const std::string& source = "inheritance");
  static Inheritance read(const std::filesystem::path& path);
  void write(const std::filesystem::path& path) const;
};

}  // namespace asdm
