// asdm incubate end to end: built with asdm build, killed with SIGKILL mid-run and resumed, it ends
// with the weights of an uninterrupted run; the final eval compares teacher, built and incubated
// students; bad input is one line.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/tensor_io.h"
#include "tests/apps/cli_helpers.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

// A student of the test-world pipeline built by asdm build --clme.
fs::path build_clme_student(const ProxySetup& s) {
  return build_student(
      s, {"down_blocks.1.resnets.1", "up_blocks.2.attentions.0", "mid_block.resnets.0"},
      {"--clme", "--module-steps", "3", "--assembly-steps", "4"});
}

std::vector<std::string> args(const ProxySetup& s, const fs::path& student, const fs::path& out) {
  return {"incubate",
          "--teacher",
          s.pipeline.string(),
          "--student",
          student.string(),
          "-o",
          out.string(),
          "--batch",
          "2",
          "--lr",
          "1e-3",
          "--checkpoint-every",
          "2",
          "--threads",
          "1",
          "--eval-n",
          "4",
          "--eval-steps",
          "3"};
}

TEST(IncubateCli, KilledAndResumedEndsWithTheUninterruptedWeights) {
  const ProxySetup s = make_proxy_setup("incubate_cli", 2);
  const fs::path student = build_clme_student(s);
  const Result whole = asdm(args(s, student, s.dir / "whole"));
  ASSERT_EQ(whole.rc, 0) << whole.err;
  // The final eval: teacher, built and incubated student on the same prompts and noise.
  const auto report = read_json_file(s.dir / "whole" / "incubation.json");
  EXPECT_EQ(report.at("artifact"), "incubation");
  EXPECT_EQ(report.at("steps"), 3 * 3 + 4);
  for (const char* k : {"teacher", "student_built", "student_incubated"})
    EXPECT_EQ(report.at("eval").at(k).at("samples"), 4) << k;
  EXPECT_EQ(report.at("eval").at("teacher").at("ssim_vs_teacher"), 1.0);
  EXPECT_NE(whole.out.find("student_incubated"), std::string::npos) << whole.out;

  const fs::path killed = s.dir / "killed";
  std::vector<std::string> killed_args = {"-q"};
  for (const auto& a : args(s, student, killed)) killed_args.push_back(a);
  killed_args.push_back("--no-eval");
  const pid_t pid = spawn_asdm(killed_args);
  ASSERT_GE(pid, 0);
  ASSERT_TRUE(kill_when(pid, [&] {
    return fs::exists(killed / "checkpoint" / "state.json") &&
           read_json_file(killed / "checkpoint" / "state.json").at("global_step").get<int>() >= 5;
  })) << "the run finished before it could be killed";
  expect_error(asdm(args(s, student, killed)),
               killed.string() +
                   " holds an incubation run; pass --resume to continue it or choose another -o");
  std::vector<std::string> resume = args(s, student, killed);
  resume.push_back("--resume");
  resume.push_back("--no-eval");
  const Result r = asdm(resume);
  ASSERT_EQ(r.rc, 0) << r.err;
  const TensorMap a =
      read_tensors(s.dir / "whole" / "unet" / "diffusion_pytorch_model.safetensors");
  const TensorMap b = read_tensors(killed / "unet" / "diffusion_pytorch_model.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, v] : a) EXPECT_TRUE(torch::equal(v, b.at(k))) << k;
}

// A BK-SDM preset is a stock diffusers UNet: incubate finds its ArchSpec in inheritance.json and
// trains it one-shot (its blocks moved, so there is no hybrid for progressive incubation).
TEST(IncubateCli, BkSdmPresetStudentsTrainOneShot) {
  const ProxySetup s = make_proxy_setup("incubate_cli_bk", 2);
  const fs::path student = s.dir / "small";
  ASSERT_EQ(asdm({"-q", "build", "--teacher", s.pipeline.string(), "--preset", "small",
                  "--module-steps", "1", "--assembly-steps", "2", "-o", student.string()})
                .rc,
            0);
  std::vector<std::string> a = args(s, student, s.dir / "out");
  a.push_back("--no-eval");
  expect_error(asdm(a),
               "progressive incubation trains each module inside the teacher, which needs unit "
               "edits (remove, "
               "clme, gri); the student " +
                   student.string() + " has drop_* edits: pass --one-shot");
  a.push_back("--one-shot");
  const Result r = asdm(a);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(s.dir / "out" / "unet" / "config.json"));
  EXPECT_EQ(read_json_file(s.dir / "out" / "unet" / "config.json").at("layers_per_block"),
            nlohmann::json::array({1, 1, 1, 1}));
}

TEST(IncubateCli, BadInputIsOneLine) {
  const ProxySetup s = make_proxy_setup("incubate_cli_bad", 2);
  const fs::path student = build_clme_student(s);
  std::vector<std::string> a = args(s, student, s.dir / "out");
  a.push_back("--weights");
  a.push_back("semantics=0");
  expect_error(asdm(a), "unknown loss weight 'semantics' (known: task, output, feature, semantic)");
  fs::remove(student / "schedule.json");
  expect_error(asdm(args(s, student, s.dir / "out")),
               "no schedule " + (student / "schedule.json").string() +
                   " (asdm build writes one beside the student; or pass --schedule)");
  expect_error(
      asdm({"incubate", "--teacher", (s.dir / "nowhere").string(), "--student", student.string(),
            "--schedule", (s.dir / "candidates.json").string(), "-o", (s.dir / "out").string()}),
      (s.dir / "candidates.json").string() +
          " is not a schedule.json (asdm build writes one beside the student)");
}

}  // namespace
}  // namespace asdm
