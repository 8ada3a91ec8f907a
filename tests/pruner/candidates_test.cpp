// candidates.json: every field survives a write and a read, a reader refuses another artifact or a
// missing field in one line, picking by name or position, and the demo's pick among measured ones.
#include "pruner/candidates.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/model_files.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

Summary some_summary(double median) {
  return {10, median, median * 0.9, median * 1.2, median, 0.1};
}

CandidateSet full_set() {
  const ArchSpec teacher = load_arch(locate_model(test::config_path("tiny")));
  CandidateSet s;
  s.header = ArtifactHeader::make(CandidateSet::kArtifact, CandidateSet::kSchemaVersion,
                                  test::run_context({"asdm", "search"}, "test"));
  s.teacher = {"teacher", "profile.json", "timer",
               "test",    12.5,           InputShape::square(32, 8, 2, 77),
               1000,      2000,           some_summary(12.0)};
  s.importance = {"importance.json", "tier1", "proxy pipeline"};
  s.options = {0.22, 0.02, 6, 4000, {"conv_in"}, {}, true};
  s.predictor = "teacher minus units";
  s.predicted_loss = "sum of scores";
  s.replacements = {"clme", "gri"};
  s.replacement_costs = std::vector<ReplacementCostEntry>{
      {"down_blocks.0.resnets.0", "clme", "experts", "down_blocks.0.resnets.1", some_summary(1),
       some_summary(1.2), 0.2},
      {"down_blocks.0.attentions.0", "gri", "options", "8 2", some_summary(2), some_summary(1),
       -1}};
  s.gri_scores = std::vector<GriScoreEntry>{{"down_blocks.0.attentions.0", 8, 2, 1.0, 0.01, true}};
  s.searched_units = 12;
  s.best_reachable_speedup = 0.6;
  CandidateEntry c;
  c.name = "c1";
  c.removed = {"down_blocks.0.resnets.1"};
  c.gri = {"down_blocks.0.attentions.0"};
  c.predicted_ms = 9.5;
  c.predicted_speedup = 0.24;
  c.predicted_loss = 0.03;
  c.replacement_ms = 0.2;
  c.refined = true;
  c.params = 900;
  c.macs = 1800;
  c.arch = teacher;
  c.arch.edits.push_back(Edit::remove("down_blocks.0.resnets.1"));
  c.measured_ms = some_summary(9.6);
  c.measured_speedup = 0.23;
  c.prediction_error = -0.01;
  s.candidates.push_back(c);
  c.name = "c2";
  c.measured_ms.reset();
  c.measured_speedup.reset();
  c.prediction_error.reset();
  s.candidates.push_back(c);
  s.front = {{0.1, 0.001}, {0.3, 0.04}};
  s.validation =
      Validation{{{{"up_blocks.1.resnets.0"}, 10.0, some_summary(10.5), -0.05}}, 0.05, 0.05};
  s.refinement = Refinement{"tier-1", 0.04, 0.03, 5, {"a"}, {"b"}, {{"a", "b", 0.03}}};
  return s;
}

TEST(CandidateSet, EveryFieldSurvivesARoundTrip) {
  const CandidateSet s = full_set();
  const nlohmann::json j = s.to_json();
  EXPECT_EQ(CandidateSet::from_json(j).to_json(), j);
  const auto path = test::scratch_dir("candidates_roundtrip") / "candidates.json";
  s.write(path);
  const CandidateSet back = CandidateSet::read(path);
  EXPECT_EQ(back.to_json(), j);
  EXPECT_EQ(back.candidates[0].arch.edits, s.candidates[0].arch.edits);
  EXPECT_FALSE(back.candidates[1].measured_ms.has_value());
  EXPECT_EQ(back.replacement_costs->at(0).key, "down_blocks.0.resnets.1");
  EXPECT_EQ(j["replacement_costs"][1]["options"], "8 2");
}

TEST(CandidateSet, ReadersSayWhatIsWrong) {
  nlohmann::json j = full_set().to_json();
  j["artifact"] = "bench";
  EXPECT_EQ(test::error_of([&] { CandidateSet::from_json(j, "x.json"); }),
            "x.json is not a candidates.json (make one with asdm search)");
  j = full_set().to_json();
  j["candidates"][0].erase("predicted_ms");
  EXPECT_EQ(test::error_of([&] { CandidateSet::from_json(j, "x.json"); }),
            "x.json: not a valid candidates.json: at /candidates/0: key 'predicted_ms' not found");
  const CandidateSet s = full_set();
  EXPECT_EQ(&s.pick("c2", "x.json"), &s.candidates[1]);
  EXPECT_EQ(&s.pick("1", "x.json"), &s.candidates[0]);
  EXPECT_EQ(test::error_of([&] { s.pick("c9", "x.json"); }),
            "x.json has no candidate 'c9' (known: c1, c2)");
}

TEST(CandidateSet, PickMeasuredTakesTheLeastLossPastTheMargin) {
  CandidateSet s = full_set();
  s.candidates[0].measured_speedup = 0.23;  // within the margin of 0.22 + 0.03
  s.candidates[0].predicted_loss = 0.01;
  s.candidates[1].measured_speedup = 0.26;
  s.candidates[1].predicted_loss = 0.05;
  std::string warning;
  EXPECT_EQ(pick_measured(s, 0.22, 0.03, &warning).name, "c2");
  s.candidates[1].measured_speedup = 0.24;  // none clears the margin: the fastest that meets it
  EXPECT_EQ(pick_measured(s, 0.22, 0.03, &warning).name, "c2");
  s.candidates[0].measured_speedup = 0.1;
  s.candidates[1].measured_speedup = 0.2;  // none meets the target: the first, with a warning
  EXPECT_EQ(pick_measured(s, 0.22, 0.03, &warning).name, "c1");
  EXPECT_EQ(warning,
            "no candidate measured at least 22% faster on this machine; building c1 (predicted "
            "24.0%)");
}

}  // namespace
}  // namespace asdm
