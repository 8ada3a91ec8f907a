// Progressive incubation on the test world: module phases touch only their block, a run stopped
// and resumed ends with the uninterrupted run's weights, and bad input is refused with the last
// checkpoint left as it was.
#include "incubation/incubate.h"

#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/tensor_io.h"
#include "tests/incubation/fixtures.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

IncubateOptions small() {
  IncubateOptions o;
  o.batch = 2;
  o.checkpoint_every = 2;
  o.seed = 3;
  return o;
}

std::vector<nlohmann::json> read_log(const fs::path& file) {
  std::vector<nlohmann::json> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(Incubate, RunsTheScheduleModuleByModuleThenAssembles) {
  torch::set_num_threads(1);
  const auto s = test::make_incubation_setup("incubate_run");
  const fs::path out = s.dir / "out";
  const IncubateResult r = incubate(s.teacher, s.student, s.schedule, out, small(), false);
  EXPECT_TRUE(r.complete);
  // Modules: down_blocks.1 (a removal and a CLME edit), mid_block, up_blocks.2; 2 steps each,
  // then 3.
  EXPECT_EQ(r.total_steps, 3 * 2 + 3);
  const auto log = read_log(out / "incubation.jsonl");
  ASSERT_EQ(log.size(), 9u);
  EXPECT_EQ(log.back().at("phase"), "assembly");
  std::set<std::string> phases;
  for (const auto& l : log) {
    phases.insert(l.at("phase"));
    for (const char* k :
         {"loss_task", "loss_output", "loss_feature", "loss_semantic", "loss_total"})
      EXPECT_TRUE(l.at(k).is_number()) << k;
  }
  EXPECT_EQ(phases,
            (std::set<std::string>{"down_blocks.1", "mid_block", "up_blocks.2", "assembly"}));
  // The trained student is a pipeline folder that loads, with its edits.
  const auto trained = load_unet(out);
  EXPECT_EQ(trained->spec().edits, s.spec.edits);
  EXPECT_TRUE(fs::exists(out / "proxy.json"));
  // The input student is left as it was.
  const auto built = load_unet(s.student);
  int changed = 0;
  auto tp = trained->module().named_parameters(true);
  for (const auto& p : built->module().named_parameters(true))
    changed += !torch::equal(p.value(), tp[p.key()]);
  EXPECT_GT(changed, 0);
}

TEST(Incubate, AModulePhaseChangesOnlyItsBlock) {
  torch::set_num_threads(1);
  const auto s = test::make_incubation_setup("incubate_module", 2, 2);
  const fs::path out = s.dir / "out";
  IncubateOptions o = small();
  o.stop_after = 2;  // the end of the first module's phase, which writes a checkpoint
  incubate(s.teacher, s.student, s.schedule, out, o, false);
  const auto first = read_log(out / "incubation.jsonl").front().at("phase").get<std::string>();
  const TensorMap after = read_tensors(out / "checkpoint" / "student.safetensors");
  const TensorMap before = read_tensors(locate_model(s.student).weights.front());
  int in_block = 0;
  for (const auto& [k, v] : before) {
    const bool same = torch::equal(v, after.at(k));
    if (k.rfind(first + ".", 0) == 0)
      in_block += !same;
    else
      EXPECT_TRUE(same) << k << " changed while training " << first;
  }
  EXPECT_GT(in_block, 0);
}

TEST(Incubate, StoppedAndResumedEndsWithTheUninterruptedWeights) {
  torch::set_num_threads(1);
  const auto s = test::make_incubation_setup("incubate_resume");
  IncubateOptions o = small();
  o.ema = 0.9;
  o.checkpoint_every = 1;  // every step: a stop mid-module keeps that module's weights
  incubate(s.teacher, s.student, s.schedule, s.dir / "whole", o, false);
  for (int stop : {3, 8}) {  // mid-module (resumes at 3: the module's weights and optimizer),
                             // mid-assembly (at 8: optimizer and EMA)
    const fs::path part = s.dir / fmt::format("part{}", stop);
    IncubateOptions first = o;
    first.stop_after = stop;
    const IncubateResult a = incubate(s.teacher, s.student, s.schedule, part, first, false);
    EXPECT_FALSE(a.complete);
    if (stop == 3) {  // mid-module: the checkpoint keeps that module's weights, and only those
      const std::string module = read_log(part / "incubation.jsonl").back().at("phase");
      const TensorMap phase = read_tensors(part / "checkpoint" / "phase.safetensors");
      EXPECT_FALSE(phase.empty());
      for (const auto& [k, v] : phase) EXPECT_EQ(k.rfind(module + ".", 0), 0u) << k;
    }
    const IncubateResult b = incubate(s.teacher, s.student, s.schedule, part, o, true);
    EXPECT_TRUE(b.complete);
    const TensorMap x =
        read_tensors(s.dir / "whole" / "unet" / "diffusion_pytorch_model.safetensors");
    const TensorMap y = read_tensors(part / "unet" / "diffusion_pytorch_model.safetensors");
    ASSERT_EQ(x.size(), y.size());
    for (const auto& [k, v] : x)
      EXPECT_TRUE(torch::equal(v, y.at(k))) << k << " after stopping at " << stop;
    EXPECT_EQ(read_log(part / "incubation.jsonl").size(),
              read_log(s.dir / "whole" / "incubation.jsonl").size());
  }
}

TEST(Incubate, BadInputIsRefusedAndTheCheckpointKept) {
  torch::set_num_threads(1);
  const auto s = test::make_incubation_setup("incubate_bad");
  const fs::path out = s.dir / "out";
  // A schedule for another student.
  nlohmann::json other = read_json_file(s.schedule);
  other["modules"][0]["removed_units"].push_back("down_blocks.0.resnets.0");
  write_json_atomic(s.dir / "other.json", other);
  EXPECT_EQ(test::error_of(
                [&] { incubate(s.teacher, s.student, s.dir / "other.json", out, small(), false); }),
            "schedule " + (s.dir / "other.json").string() +
                " names down_blocks.0.resnets.0 as removed, but the student " + s.student.string() +
                " has it (a schedule for another student?)");
  // A student of another teacher.
  auto p = proxy::ProxyPipeline::create(proxy::world_spec("default"), 1);
  p.save(s.dir / "other_teacher");
  EXPECT_EQ(test::error_of([&] {
              incubate(s.dir / "other_teacher", s.student, s.schedule, out, small(), false);
            }),
            "the student " + s.student.string() + " was not built from the teacher " +
                (s.dir / "other_teacher").string() + " (the teacher config it records differs)");
  // A corrupt checkpoint on resume: refused, left as it is.
  IncubateOptions o = small();
  o.stop_after = 4;
  incubate(s.teacher, s.student, s.schedule, out, o, false);
  write_file_atomic(out / "checkpoint" / "student.safetensors", "not a safetensors file");
  const std::string state = read_text_file(out / "checkpoint" / "state.json");
  const std::string msg =
      test::error_of([&] { incubate(s.teacher, s.student, s.schedule, out, small(), true); });
  EXPECT_EQ(msg.substr(0, msg.find(" (")),
            "the checkpoint in " + (out / "checkpoint").string() + " is unreadable");
  EXPECT_EQ(read_text_file(out / "checkpoint" / "state.json"), state);
  EXPECT_EQ(read_text_file(out / "checkpoint" / "student.safetensors"), "not a safetensors file");
  // Without --resume an existing run is not overwritten; with other settings it is not resumed.
  EXPECT_EQ(
      test::error_of([&] { incubate(s.teacher, s.student, s.schedule, out, small(), false); }),
      out.string() + " holds an incubation run; pass --resume to continue it or choose another -o");
  IncubateOptions lr = small();
  lr.lr = 0.5;
  EXPECT_EQ(test::error_of([&] { incubate(s.teacher, s.student, s.schedule, out, lr, true); }),
            "--resume with other settings than the checkpoint's: lr = 0.5 here but 0.001 in the "
            "checkpoint");
  // A checkpoint of the per-step draws of earlier versions (no "stream" field) cannot be
  // continued exactly: refused by name.
  nlohmann::json old_state = read_json_file(out / "checkpoint" / "state.json");
  old_state["options"].erase("stream");
  old_state["options"].erase("teacher_dtype");
  write_json_atomic(out / "checkpoint" / "state.json", old_state);
  EXPECT_EQ(test::error_of([&] { incubate(s.teacher, s.student, s.schedule, out, small(), true); }),
            "--resume with other settings than the checkpoint's: stream = 2 here but 1 in the "
            "checkpoint");
}

TEST(Incubate, AHalfPrecisionTeacherGivesNearlyTheSameLosses) {
  torch::set_num_threads(1);
  const auto s = test::make_incubation_setup("incubate_teacher_dtype");
  IncubateOptions o = small();
  o.total_steps = 1;
  incubate(s.teacher, s.student, s.schedule, s.dir / "fp32", o, false);
  o.teacher_dtype = "bf16";
  incubate(s.teacher, s.student, s.schedule, s.dir / "bf16", o, false);
  const auto a = read_log(s.dir / "fp32" / "incubation.jsonl").front();
  const auto b = read_log(s.dir / "bf16" / "incubation.jsonl").front();
  // The task loss does not involve the teacher; the distillation terms move by bfloat16's rounding.
  EXPECT_EQ(a.at("loss_task"), b.at("loss_task"));
  for (const char* k : {"loss_output", "loss_feature", "loss_total"})
    EXPECT_NEAR(b.at(k).get<double>(), a.at(k).get<double>(), 0.02 * a.at(k).get<double>()) << k;
  EXPECT_NE(a.at("loss_feature"), b.at("loss_feature"));
  EXPECT_EQ(read_json_file(s.dir / "bf16" / "checkpoint" / "state.json")
                .at("options")
                .at("teacher_dtype"),
            "bfloat16");
}

}  // namespace
}  // namespace asdm
