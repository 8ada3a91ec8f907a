// Incubation schedules: modules from the edited blocks in order of importance lost, steps from a
// budget, hook points of the student, and the errors a user meets.
#include "pruner/schedule.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/model_files.h"
#include "pruner/presets.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

ArchSpec sd15() { return load_arch(locate_model(test::config_path("sd15"))); }

TEST(Schedule, ModulesFollowTheImportanceLost) {
  ArchSpec s = sd15();
  for (const char* id : {"down_blocks.0.attentions.1", "mid_block.resnets.1",
                         "mid_block.attentions.0", "up_blocks.3.resnets.0"})
    s.edits.push_back(Edit::remove(id));
  const std::map<std::string, double> scores = {{"down_blocks.0.attentions.1", 0.02},
                                                {"mid_block.resnets.1", 0.001},
                                                {"mid_block.attentions.0", 0.002},
                                                {"up_blocks.3.resnets.0", 0.5}};
  const auto j = make_schedule(s, scores, ScheduleOptions{}).to_json();
  const auto& m = j.at("modules");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].at("name"), "up_blocks.3");
  EXPECT_EQ(m[1].at("name"), "down_blocks.0");
  EXPECT_EQ(m[2].at("name"), "mid_block");
  EXPECT_EQ(m[2].at("removed_units"),
            nlohmann::json::array({"mid_block.attentions.0", "mid_block.resnets.1"}));
  EXPECT_NEAR(m[2].at("importance_lost").get<double>(), 0.003, 1e-12);
  EXPECT_EQ(m[0].at("steps"), 400);
  EXPECT_EQ(j.at("assembly").at("steps"), 800);
  EXPECT_EQ(j.at("optimizer").at("lr"), 5e-5);
  EXPECT_EQ(j.at("loss").at("feature_hooks").size(), 9u);  // 4 down, mid, 4 up
  const auto sem = j.at("loss").at("semantic_hooks").get<std::vector<std::string>>();
  EXPECT_EQ(sem.size(), 14u);  // 16 cross-attention units, two removed
  EXPECT_EQ(std::count(sem.begin(), sem.end(), "down_blocks.0.attentions.1"), 0);
  // Without scores: forward order.
  EXPECT_EQ(make_schedule(s, {}, ScheduleOptions{}).to_json().at("modules")[0].at("name"),
            "down_blocks.0");
}

TEST(Schedule, BudgetGivesTheSteps) {
  ArchSpec s = sd15();
  s.edits = {Edit::remove("down_blocks.1.resnets.1"), Edit::remove("up_blocks.1.resnets.2")};
  ScheduleOptions o;
  o.budget_hours = 1;
  o.seconds_per_step = 2;
  const auto j = make_schedule(s, {}, o).to_json();
  EXPECT_EQ(j.at("modules")[0].at("steps"), 450);
  EXPECT_EQ(j.at("assembly").at("steps"), 900);
  EXPECT_EQ(j.at("budget").at("total_steps"), 1800);
  // BK-SDM-Base edits every stage: a module per down and up block.
  EXPECT_EQ(make_schedule(bk_sdm_preset(s.teacher, "base"), {}, ScheduleOptions{}).modules.size(),
            8u);
}

TEST(Schedule, BadOptions) {
  ArchSpec s = sd15();
  EXPECT_EQ(test::error_of([&] { make_schedule(s, {}, ScheduleOptions{}); }),
            "the student has no edits: nothing to incubate");
  s.edits = {Edit::remove("down_blocks.1.resnets.1")};
  ScheduleOptions o;
  o.budget_hours = 2;
  EXPECT_EQ(test::error_of([&] { make_schedule(s, {}, o); }),
            "a budget in hours needs the seconds one training step takes (got 0)");
  o.seconds_per_step = 3600;
  o.budget_hours = 0.0005;
  EXPECT_EQ(test::error_of([&] { make_schedule(s, {}, o); }),
            "the budget gives 0 steps per module and 0 assembly steps; give more hours");
  o = ScheduleOptions{};
  o.lr_schedule = "step";
  EXPECT_EQ(test::error_of([&] { make_schedule(s, {}, o); }),
            "unknown learning-rate schedule 'step' (known: constant, cosine)");
}

TEST(Schedule, EveryFieldSurvivesARoundTrip) {
  ArchSpec s = sd15();
  s.edits = {Edit::remove("down_blocks.1.resnets.1"), Edit::remove("up_blocks.1.resnets.2")};
  ScheduleOptions o;
  o.budget_hours = 1;
  o.seconds_per_step = 2;
  Schedule sc = make_schedule(s, {{"down_blocks.1.resnets.1", 0.5}}, o);
  sc.header = ArtifactHeader::make(Schedule::kArtifact, Schedule::kSchemaVersion, {});
  sc.student = "student";
  sc.teacher = "teacher";
  const nlohmann::json j = sc.to_json();
  EXPECT_EQ(Schedule::from_json(j).to_json(), j);
  EXPECT_TRUE(j.at("budget").is_object());
  nlohmann::json other = j;
  other["artifact"] = "candidates";
  EXPECT_EQ(test::error_of([&] { Schedule::from_json(other, "c.json"); }),
            "c.json is not a schedule.json (asdm build writes one beside the student)");
}

}  // namespace
}  // namespace asdm
