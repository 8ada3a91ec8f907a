// asdm build end to end: a removal candidate built from a proxy pipeline computes exactly what the
// teacher computes with those units bypassed; a BK-SDM preset is a stock diffusers UNet; the
// inheritance table covers every student tensor; bad input is one clear line.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/checkpoint.h"
#include "model/unet.h"
#include "profiler/cost_model.h"
#include "tests/apps/cli_helpers.h"
#include "tests/apps/proxy_forward.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

class BypassUnits : public UnitObserver {
 public:
  explicit BypassUnits(std::set<std::string> ids) : ids_(std::move(ids)) {}
  bool bypass(const UnitInfo& u) override { return ids_.count(u.id) > 0; }

 private:
  std::set<std::string> ids_;
};

// Largest output difference between the student and the teacher with `removed` bypassed, on one
// random test-world input.
double difference_from_bypassed_teacher(const fs::path& teacher_dir, const UNet& student,
                                        const std::vector<std::string>& removed) {
  const auto teacher = load_unet(teacher_dir);
  BypassUnits bypass({removed.begin(), removed.end()});
  return (test::proxy_unet_forward(*teacher, &bypass) - test::proxy_unet_forward(student))
      .abs()
      .max()
      .item<double>();
}

TEST(BuildCli, ARemovalCandidateEqualsTheTeacherWithThoseUnitsBypassed) {
  torch::set_num_threads(1);
  const ProxySetup s = make_proxy_setup("build_cli", 2);
  const std::vector<std::string> removed = {"down_blocks.1.resnets.1", "up_blocks.2.attentions.0",
                                            "mid_block.resnets.0"};
  nlohmann::json edits = nlohmann::json::array();
  for (const auto& id : removed) edits.push_back({{"op", "remove"}, {"unit", id}});
  const nlohmann::json arch = {
      {"artifact", "arch_spec"},
      {"schema_version", 1},
      {"teacher_config", read_json_file(s.pipeline / "unet" / "config.json")},
      {"edits", edits}};
  const fs::path cands = s.dir / "candidates.json";
  write_json_atomic(cands, one_candidate(arch));
  const fs::path out = s.dir / "student";
  const Result r = asdm({"build", "--teacher", s.pipeline.string(), "--candidates", cands.string(),
                         "--pick", "c1", "-o", out.string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "proxy.json"));
  EXPECT_TRUE(fs::exists(out / "text_encoder" / "model.safetensors"));
  EXPECT_TRUE(fs::exists(out / "unet" / "asdm_arch.json"));
  const auto table = read_json_file(out / "unet" / "inheritance.json");
  const auto schedule = read_json_file(out / "schedule.json");
  EXPECT_EQ(schedule.at("modules").size(), 3u);  // down_blocks.1, mid_block, up_blocks.2
  EXPECT_EQ(schedule.at("order_rule"), "forward order");
  const auto student = load_unet(out);
  EXPECT_EQ(table.at("tensors").size(), student->module().named_parameters(true).size());
  EXPECT_EQ(table.at("parameters").at("student"), student->num_parameters());
  EXPECT_EQ(table.at("parameters").at("inherited"), student->num_parameters());
  // Identity: removal == bypass.
  EXPECT_LE(difference_from_bypassed_teacher(s.pipeline, *student, removed), 1e-6);
  // Errors.
  expect_error(asdm({"build", "--teacher", s.pipeline.string(), "--candidates", cands.string(),
                     "--pick", "c7", "-o", out.string()}),
               cands.string() + " has no candidate 'c7' (known: c1)");
  nlohmann::json other = arch;
  other["teacher_config"]["block_out_channels"] = {16, 32, 32, 64};
  write_json_atomic(s.dir / "other.json", one_candidate(other));
  expect_error(asdm({"build", "--teacher", s.pipeline.string(), "--candidates",
                     (s.dir / "other.json").string(), "-o", out.string()}),
               (s.dir / "other.json").string() + " was searched on another teacher than " +
                   s.pipeline.string() + " (its configs differ)");
  expect_error(asdm({"build", "--teacher", s.pipeline.string(), "-o", out.string()}),
               "give one of --candidates (with --pick), --preset or --arch");
  expect_error(asdm({"build", "--teacher", s.pipeline.string(), "--candidates", cands.string(),
                     "-o", s.pipeline.string()}),
               "the output folder " + s.pipeline.string() + " is the teacher's; give another -o");
}

// --clme: the removed ResBlocks' kernels become experts of a surviving sibling; with the routers at
// zero the student still computes the teacher with those units bypassed.
TEST(BuildCli, ClmeStudentStartsAsTheRemovalOnlyStudent) {
  torch::set_num_threads(1);
  const ProxySetup s = make_proxy_setup("build_cli_clme", 2);
  const std::vector<std::string> removed = {"down_blocks.1.resnets.1", "up_blocks.2.attentions.0",
                                            "mid_block.resnets.0"};
  nlohmann::json edits = nlohmann::json::array();
  for (const auto& id : removed) edits.push_back({{"op", "remove"}, {"unit", id}});
  const nlohmann::json teacher_config = read_json_file(s.pipeline / "unet" / "config.json");
  auto candidates = [&](const nlohmann::json& e) {
    return one_candidate({{"artifact", "arch_spec"},
                          {"schema_version", 1},
                          {"teacher_config", teacher_config},
                          {"edits", e}});
  };
  const fs::path cands = s.dir / "candidates.json", out = s.dir / "student";
  write_json_atomic(cands, candidates(edits));
  const Result r = asdm({"build", "--teacher", s.pipeline.string(), "--candidates", cands.string(),
                         "--clme", "-o", out.string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("new (CLME routers"), std::string::npos) << r.out;
  const auto student = load_unet(out);
  EXPECT_EQ(student->spec().clme_units().size(),
            2u);  // down_blocks.1.resnets.0 and mid_block.resnets.1
  const auto table = read_json_file(out / "unet" / "inheritance.json");
  const auto& p = table.at("parameters");
  EXPECT_EQ(p.at("inherited").get<int64_t>() + p.at("new").get<int64_t>(),
            student->num_parameters());
  EXPECT_GT(p.at("new").get<int64_t>(), 0);
  EXPECT_EQ(p.at("student"), estimate_cost(student->spec(), InputShape{}).params);
  EXPECT_LE(difference_from_bypassed_teacher(s.pipeline, *student, removed), 1e-5);

  write_json_atomic(cands, candidates({{{"op", "remove"}, {"unit", "up_blocks.2.attentions.0"}}}));
  expect_error(
      asdm({"build", "--teacher", s.pipeline.string(), "--candidates", cands.string(), "--clme",
            "-o", out.string()}),
      "--clme: c1 removes no ResBlock that has a surviving sibling to inherit its kernels");
}

TEST(BuildCli, BkSdmPresetIsAStockDiffusersUNet) {
  const fs::path dir = test::scratch_dir("build_cli_bk");
  auto teacher = load_unet(test::config_path("tiny"), {.allow_random_weights = true});
  save_unet(*teacher, dir / "teacher");
  const Result r = asdm({"build", "--teacher", (dir / "teacher").string(), "--preset", "small",
                         "-o", (dir / "small").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_FALSE(fs::exists(dir / "small" / kArchFileName));
  const auto cfg = read_json_file(dir / "small" / "config.json");
  EXPECT_EQ(cfg.at("layers_per_block"), nlohmann::json::array({1, 1, 1, 1}));
  EXPECT_TRUE(cfg.at("mid_block_type").is_null()) << cfg.at("mid_block_type");
  const auto student = load_unet(dir / "small");
  const ArchSpec spec = load_arch(locate_model(dir / "small"));
  EXPECT_EQ(student->num_parameters(),
            estimate_cost(spec.student_layout(), {}, InputShape{}).params);
  EXPECT_LT(student->num_parameters(), teacher->num_parameters());
  expect_error(asdm({"build", "--teacher", test::config_path("tiny").string(), "--preset", "base",
                     "-o", (dir / "x").string()}),
               "the teacher " + test::config_path("tiny").string() + " has no weights to inherit");
}

}  // namespace
}  // namespace asdm
