// inheritance.json: every field survives a write and a read; a new tensor has no teacher key.
#include "pruner/inheritance.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/model_files.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(Inheritance, EveryFieldSurvivesARoundTrip) {
  Inheritance inh;
  inh.header = ArtifactHeader::make(Inheritance::kArtifact, Inheritance::kSchemaVersion, {});
  inh.teacher = "teacher";
  inh.student = "c1+clme";
  inh.source = "candidates.json";
  inh.arch = load_arch(locate_model(test::config_path("tiny")));
  inh.arch.edits.push_back(Edit::remove("down_blocks.0.resnets.1"));
  inh.tensors = {{"conv_in.weight", "conv_in.weight", "", {4, 4, 3, 3}},
                 {"down_blocks.0.resnets.0.conv1.router.weight", "", "zeros", {2, 8}}};
  inh.teacher_params = 10;
  inh.student_params = 9;
  inh.inherited_params = 8;
  inh.new_params = 1;
  const nlohmann::json j = inh.to_json();
  EXPECT_TRUE(j["tensors"][1]["teacher"].is_null());
  EXPECT_EQ(Inheritance::from_json(j).to_json(), j);
}

}  // namespace
}  // namespace asdm
