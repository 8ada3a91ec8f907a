// checkpoint/state.json and incubation.jsonl lines: settings survive a write and a read, and a
// resume with another setting names the first difference.
#include "incubation/run_state.h"

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

IncubationSettings settings() {
  IncubationSettings s;
  s.batch = 4;
  s.lr = 1e-3;
  s.lr_schedule = "cosine";
  s.grad_clip = 1;
  s.weight_decay = 0.01;
  s.weights = {{"task", 1}, {"output", 1}, {"feature", 0}, {"semantic", 1}};
  s.phases = {{"down_blocks.1", 10}, {"assembly", 20}};
  s.total_steps = 30;
  s.ema = 0.999;
  s.cond_drop = 0.1;
  s.seed = 7;
  return s;
}

TEST(CheckpointState, SurvivesAWriteAndARead) {
  const CheckpointState st{12, 1, 2, 30, "abc", settings()};
  const auto path = test::scratch_dir("run_state") / "state.json";
  st.write(path);
  const CheckpointState back = CheckpointState::read(path);
  EXPECT_EQ(back.to_json(), st.to_json());
  EXPECT_EQ(back.options.first_difference(st.options), "");
  IncubationSettings other = settings();
  other.lr = 2e-3;
  EXPECT_EQ(other.first_difference(back.options), "lr = 0.002 here but 0.001 in the checkpoint");
}

TEST(IncubationLogLine, OneJsonObjectPerStep) {
  const IncubationLogLine l{5, 2, "assembly", 1e-4, 0.5, 3.25, {{"total", 0.75}, {"task", 0.5}}};
  const auto j = nlohmann::json::parse(l.dump());
  EXPECT_EQ(j["global_step"], 5);
  EXPECT_EQ(j["phase"], "assembly");
  EXPECT_EQ(j["loss_total"], 0.75);
  EXPECT_EQ(j["loss_task"], 0.5);
}

TEST(IncubationLogLine, ReadsBackWhatItWroteAndSkipsACutLine) {
  const IncubationLogLine l{5, 2, "assembly", 1e-4, 0.5, 3.25, {{"total", 0.75}, {"task", 0.5}}};
  const auto back = IncubationLogLine::parse(l.dump());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->dump(), l.dump());
  const auto path = test::scratch_dir("incubation_log") / "incubation.jsonl";
  const std::string line = l.dump();
  std::ofstream(path) << line << "\n\n" << line.substr(0, line.size() / 2);
  const auto lines = read_incubation_log(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].losses.at("total"), 0.75);
  EXPECT_TRUE(read_incubation_log(path.parent_path() / "absent.jsonl").empty());
}

}  // namespace
}  // namespace asdm
