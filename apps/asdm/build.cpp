// asdm build: a student folder from the teacher's weights — a candidate of candidates.json (asdm
// search) or a BK-SDM preset — with an inheritance table saying which teacher tensor each student
// tensor came from. For a pipeline folder teacher, the student is a pipeline folder too (the
// teacher's other components copied, the student in unet/), so every asdm command can load it.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "apps/asdm/commands.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "core/run_files.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "model/runtime.h"
#include "model/tensor_io.h"
#include "model/unet.h"
#include "profiler/cost_model.h"
#include "analysis/importance_io.h"
#include "pruner/presets.h"
#include "pruner/replacements.h"
#include "pruner/schedule.h"

namespace asdm::cli {
namespace {

namespace fs = std::filesystem;

struct BuildCli {
  std::string teacher, candidates, pick = "1", preset, output, dtype;
  bool clme = false;
  ScheduleOptions schedule;
};

// The removed units' importance, when candidates.json names an importance.json that is there.
std::map<std::string, double> candidate_scores(const std::string& candidates) {
  if (candidates.empty()) return {};
  const nlohmann::json j = read_json_file(candidates);
  const std::string file = j.value(nlohmann::json::json_pointer("/importance/file"), "");
  if (file.empty() || !fs::exists(file)) return {};
  return read_importance_scores(file, j.value(nlohmann::json::json_pointer("/importance/metric"), "tier1")).units;
}

ArchSpec spec_from_candidates(const BuildCli& o, const ArchSpec& teacher, std::string* name) {
  const nlohmann::json j = read_json_file(o.candidates);
  if (j.value("artifact", "") != "candidates")
    fail("{} is not a candidates.json (make one with asdm search)", o.candidates);
  const auto& cands = j.at("candidates");
  std::vector<std::string> names;
  for (const auto& c : cands) names.push_back(c.at("name"));
  const nlohmann::json* chosen = nullptr;
  for (size_t k = 0; k < cands.size(); ++k)
    if (o.pick == names[k] || o.pick == std::to_string(k + 1)) chosen = &cands[k];
  if (!chosen) fail("{} has no candidate '{}' (known: {})", o.candidates, o.pick, join_limited(names, 10));
  *name = chosen->at("name");
  ArchSpec spec = arch_spec_from_json(chosen->at("arch"));
  if (to_diffusers_json(spec.teacher) != to_diffusers_json(teacher.teacher) || spec.edits.size() < teacher.edits.size() ||
      !std::equal(teacher.edits.begin(), teacher.edits.end(), spec.edits.begin()))
    fail("{} was searched on another teacher than {} (its configs differ)", o.candidates, o.teacher);
  return spec;
}

void run_build(const BuildCli& o, const std::vector<std::string>& argv) {
  if (o.candidates.empty() == o.preset.empty()) fail("give one of --candidates (with --pick) or --preset");
  const ModelFiles files = locate_model(o.teacher);
  if (files.weights.empty()) fail("the teacher {} has no weights to inherit", o.teacher);
  const ArchSpec teacher = load_arch(files);
  std::string name;
  ArchSpec spec;
  if (!o.preset.empty()) {
    if (!teacher.edits.empty()) fail("BK-SDM presets start from a stock teacher; {} is itself a student", o.teacher);
    spec = bk_sdm_preset(teacher.teacher, o.preset);
    name = "bk-sdm-" + o.preset;
  } else {
    spec = spec_from_candidates(o, teacher, &name);
  }
  if (o.clme) {
    if (!spec.clme_units().empty()) fail("candidate {} already has CLME-CondConv edits; drop --clme", name);
    const auto edits = clme_edits(spec);
    if (edits.empty()) fail("--clme: {} removes no ResBlock that has a surviving sibling to inherit its kernels", name);
    spec.edits.insert(spec.edits.end(), edits.begin(), edits.end());
    name += "+clme";
  }
  std::error_code ec;
  if (fs::exists(o.output) && (fs::equivalent(o.output, o.teacher, ec) || fs::equivalent(o.output, files.dir, ec)))
    fail("the output folder {} is the teacher's; give another -o", o.output);
  UNet student(spec);
  inherit_weights(student, files.weights);

  // A pipeline teacher gives a pipeline student: every component but the UNet (and training
  // leftovers) is copied.
  const fs::path out = o.output;
  fs::path unet_dir = out;
  const fs::path root = fs::path(o.teacher);
  if (fs::exists(root / "model_index.json") && files.dir == root / "unet") {
    copy_folder_except(root, out, {"unet", "checkpoint", "train.jsonl"});
    unet_dir = out / "unet";
  }
  save_unet(student, unet_dir, o.dtype);

  nlohmann::json entries = nlohmann::json::array();
  int64_t inherited = 0, fresh = 0;
  for (const auto& t : inheritance_table(student)) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    if (t.teacher_key.empty()) {
      entries.push_back({{"student", t.student_key}, {"teacher", nullptr}, {"init", "zeros"}, {"shape", t.shape}});
      fresh += n;
    } else {
      entries.push_back({{"student", t.student_key}, {"teacher", t.teacher_key}, {"shape", t.shape}});
      inherited += n;
    }
  }
  nlohmann::json j = make_artifact("inheritance", 1, make_run_context(argv, "cpu"));
  j["teacher"] = o.teacher;
  j["student"] = name;
  j["source"] = o.preset.empty() ? o.candidates : "BK-SDM preset " + o.preset;
  j["arch"] = to_json(spec);
  j["diffusers_expressible"] = spec.diffusers_expressible();
  j["tensors"] = entries;
  const int64_t teacher_params = estimate_cost(teacher, CostInput{}).params;
  j["parameters"] = {{"teacher", teacher_params}, {"student", student.num_parameters()}, {"inherited", inherited},
                     {"new", fresh}};
  write_json_atomic(unet_dir / "inheritance.json", j);
  nlohmann::json schedule = make_artifact("schedule", 1, make_run_context(argv, "cpu"));
  schedule.update(make_schedule(spec, candidate_scores(o.candidates), o.schedule));
  schedule["student"] = out.string();
  schedule["teacher"] = o.teacher;
  write_json_atomic(out / "schedule.json", schedule);
  std::printf("built %s: %lld parameters (teacher %lld), %s; %s\n", name.c_str(),
              static_cast<long long>(student.num_parameters()), static_cast<long long>(teacher_params),
              fresh == 0 ? "every tensor inherited"
                         : fmt::format("{} new (CLME routers, zero: the student starts as the removal-only one)", fresh).c_str(),
              spec.diffusers_expressible() ? "a stock diffusers config" : "its edits in asdm_arch.json");
  log::info("wrote {} (inheritance table: {}; incubation schedule: {})", out.string(),
            (unet_dir / "inheritance.json").string(), (out / "schedule.json").string());
}

}  // namespace

void add_build(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<BuildCli>();
  auto* sub = app.add_subcommand(
      "build",
      "Build a student from the teacher's weights: a candidate of candidates.json (asdm search) or a BK-SDM\n"
      "preset (base: one (resnet, attention) layer fewer per stage; small: also no mid block; tiny: also no\n"
      "innermost stage). Every student tensor is copied from a teacher tensor (inheritance.json lists which)\n"
      "but for CLME-CondConv routers, which start at zero so that the student computes what the removal-only\n"
      "student does. --clme turns the removed ResBlocks' kernels into experts of their nearest surviving\n"
      "sibling (asdm search --allow clme does this and prices it).\n"
      "A pipeline teacher gives a pipeline student (its other components copied, the student in unet/).\n"
      "Also writes schedule.json, the progressive incubation schedule (modules = edited blocks, in order of\n"
      "importance lost; BK-SDM defaults: AdamW, constant lr 5e-5, every SAS loss weight 1).\n"
      "GRI edits in a candidate's ArchSpec are built as given (the search does not place them yet).");
  sub->add_option("--teacher", o->teacher, "Teacher: diffusers UNet or pipeline folder with weights")->required();
  sub->add_option("--candidates", o->candidates, "candidates.json (asdm search)");
  sub->add_option("--pick", o->pick, "Candidate: its name (c3) or 1-based position")->capture_default_str();
  sub->add_option("--preset", o->preset, "BK-SDM preset: base, small or tiny")->check(CLI::IsMember(bk_sdm_preset_names()));
  sub->add_flag("--clme", o->clme, "Add CLME-CondConvs: removed ResBlocks' kernels as experts of a surviving sibling");
  sub->add_option("--dtype", o->dtype, "Weights: float32, float16 or bfloat16 (default: the teacher's values in float32)")
      ->check(CLI::IsMember({"float32", "float16", "bfloat16"}));
  sub->add_option("--budget-hours", o->schedule.budget_hours,
                  "schedule.json: compute budget in hours of the training device (0: use the step counts)")
      ->capture_default_str();
  sub->add_option("--seconds-per-step", o->schedule.seconds_per_step,
                  "schedule.json: seconds one training step takes there (needed with a budget)");
  sub->add_option("--module-steps", o->schedule.module_steps, "schedule.json: steps per module without a budget")
      ->capture_default_str();
  sub->add_option("--assembly-steps", o->schedule.assembly_steps, "schedule.json: assembly steps without a budget")
      ->capture_default_str();
  sub->add_option("--lr", o->schedule.lr, "schedule.json: learning rate (AdamW)")->capture_default_str();
  sub->add_option("-o,--output", o->output, "Student folder")->required();
  sub->callback([o, argv] { run_build(*o, argv); });
}

}  // namespace asdm::cli
