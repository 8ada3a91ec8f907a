// incubation.json: every field survives a write and a read, with and without the final eval.
#include "incubation/incubation_record.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(IncubationRecord, EveryFieldSurvivesARoundTrip) {
  IncubationRecord r;
  r.header = ArtifactHeader::make(IncubationRecord::kArtifact, IncubationRecord::kSchemaVersion,
                                  test::run_context({"asdm", "incubate"}));
  r.teacher = "teacher";
  r.student = "student";
  r.schedule = "student/schedule.json";
  r.output = "out";
  r.steps = 100;
  r.seconds = 12.5;
  r.log = "out/incubation.jsonl";
  const auto path = test::scratch_dir("incubation_record") / "incubation.json";
  r.write(path);
  EXPECT_EQ(IncubationRecord::read(path).to_json(), r.to_json());
  EXPECT_FALSE(r.to_json().contains("eval"));

  QualityResult q;
  q.samples = 16;
  q.classified = true;
  q.accuracy = {{"shape", 1.0}, {"colour", 0.9}, {"position", 0.8}};
  q.mean_accuracy = 0.9;
  q.all_correct = 0.75;
  q.fid = 300;
  q.psnr_db = 28;
  q.ssim = 0.93;
  q.seconds = 4;
  r.eval = {{"teacher", q}, {"student_built", q}, {"student_incubated", q}};
  const nlohmann::json j = r.to_json();
  EXPECT_EQ(j["eval"]["teacher"]["psnr_vs_teacher_db"], 28);
  EXPECT_EQ(j["eval"]["teacher"]["mean_attribute_accuracy"], 0.9);
  EXPECT_EQ(IncubationRecord::from_json(j).to_json(), j);
}

}  // namespace
}  // namespace asdm
