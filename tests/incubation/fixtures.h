#pragma once
// A test-world teacher pipeline and a student built from it (removals and a CLME edit), with its
// schedule.json, for the incubation tests.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "proxy/pipeline.h"
#include "proxy/world.h"
#include "pruner/schedule.h"
#include "tests/test_env.h"

namespace asdm::test {

struct IncubationSetup {
  std::filesystem::path dir, teacher, student, schedule;
  ArchSpec spec;
};

inline IncubationSetup make_incubation_setup(const std::string& name, int module_steps = 2,
                                             int assembly_steps = 3) {
  namespace fs = std::filesystem;
  IncubationSetup s;
  s.dir = scratch_dir(name);
  s.teacher = s.dir / "teacher";
  s.student = s.dir / "student";
  auto p = proxy::ProxyPipeline::create(proxy::world_spec("test"), 9);
  p.save(s.teacher);
  s.spec = load_arch(locate_model(s.teacher));
  for (const char* u :
       {"down_blocks.1.resnets.1", "up_blocks.2.attentions.0", "mid_block.resnets.0"})
    s.spec.edits.push_back(Edit::remove(u));
  s.spec.edits.push_back(Edit::clme("down_blocks.1.resnets.0", {"down_blocks.1.resnets.1"}));
  UNet student(s.spec);
  inherit_weights(student, locate_model(s.teacher).weights);
  fs::create_directories(s.student);
  for (const auto& e : fs::directory_iterator(s.teacher))
    if (e.path().filename() != "unet")
      fs::copy(e.path(), s.student / e.path().filename(), fs::copy_options::recursive);
  save_unet(student, s.student / "unet");
  ScheduleOptions so;
  so.module_steps = module_steps;
  so.assembly_steps = assembly_steps;
  so.batch = 4;
  so.lr = 1e-3;
  nlohmann::json j = {{"artifact", "schedule"}, {"schema_version", 1}};
  j.update(make_schedule(s.spec, {}, so).to_json());
  s.schedule = s.student / "schedule.json";
  write_json_atomic(s.schedule, j);
  return s;
}

}  // namespace asdm::test
