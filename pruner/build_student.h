#pragma once
// The build stage (asdm build) as a library call: a student folder from the teacher's weights — a
// candidate of candidates.json or a BK-SDM preset, optionally with CLME-CondConv experts — with its
// inheritance table (inheritance.json beside the weights) and its incubation schedule
// (schedule.json in the student folder). A pipeline teacher gives a pipeline student: the teacher's
// other components are copied and the student goes in unet/. Light header.
#include <filesystem>
#include <string>

#include "core/artifact.h"
#include "model/arch_spec.h"
#include "pruner/inheritance.h"
#include "pruner/schedule.h"

namespace asdm {

struct BuildOptions {
  std::string teacher;     // diffusers UNet or pipeline folder with weights
  std::string candidates;  // candidates.json (asdm search), with `pick`; or
  std::string pick = "1";  // a candidate's name (c3) or 1-based position
  std::string preset;      // a BK-SDM preset: base, small or tiny; or
  std::string arch;        // an ArchSpec file (asdm_arch.json form: teacher_config and edits)
  bool clme = false;       // removed ResBlocks' kernels as experts of a surviving sibling
  std::string dtype;       // weights: float32, float16 or bfloat16 ("": the teacher's in float32)
  std::string output;      // the student folder
  ScheduleOptions schedule;
};

struct Student {
  std::string name;  // c3, c3+clme, bk-sdm-small
  ArchSpec spec;
  std::filesystem::path dir;       // the student folder (a pipeline folder for a pipeline teacher)
  std::filesystem::path unet_dir;  // where its UNet weights and inheritance.json are
  Inheritance inheritance;         // as written to unet_dir / "inheritance.json"
  Schedule schedule;               // as written to dir / "schedule.json"
};

// Throws asdm::Error for a teacher without weights, not exactly one of candidates, preset and arch,
// a candidate or ArchSpec made for another teacher, --clme with nothing to inherit, or an output
// folder that is the teacher's.
Student build_student(const BuildOptions& options, const RunContext& context);

}  // namespace asdm
