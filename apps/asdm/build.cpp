// asdm build: a student folder from the teacher's weights — a candidate of candidates.json (asdm
// search) or a BK-SDM preset — with its inheritance table and incubation schedule
// (pruner/build_student.h does the work).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/log.h"
#include "export/stock_form.h"
#include "model/runtime.h"
#include "pruner/build_student.h"
#include "pruner/presets.h"

namespace asdm::cli {
namespace {

void run_build(const BuildOptions& o, const std::vector<std::string>& argv) {
  const Student s = build_student(o, make_run_context(argv, "cpu"));
  const Inheritance& inh = s.inheritance;
  std::printf(
      "built %s: %lld parameters (teacher %lld), %s; %s\n", s.name.c_str(),
      static_cast<long long>(inh.student_params), static_cast<long long>(inh.teacher_params),
      inh.new_params == 0
          ? "every tensor inherited"
          : fmt::format("{} new (CLME routers, zero: the student starts as the removal-only one)",
                        inh.new_params)
                .c_str(),
      inh.diffusers_expressible ? "a stock diffusers config" : "its edits in asdm_arch.json");
  std::printf("routes out of asdm (asdm export): %s\n", export_routes(stock_form(s.spec)).c_str());
  log::info("wrote {} (inheritance table: {}; incubation schedule: {})", s.dir.string(),
            (s.unet_dir / "inheritance.json").string(), (s.dir / "schedule.json").string());
}

constexpr const char* kHelp =
    R"(Build a student from the teacher's weights: a candidate of candidates.json (asdm search) or a BK-SDM
preset (base: one (resnet, attention) layer fewer per stage; small: also no mid block; tiny: also no
innermost stage). Every student tensor is copied from a teacher tensor (inheritance.json lists which)
but for CLME-CondConv routers, which start at zero so that the student computes what the removal-only
student does. --clme turns the removed ResBlocks' kernels into experts of their nearest surviving
sibling (asdm search --allow clme does this and prices it).
A pipeline teacher gives a pipeline student (its other components copied, the student in unet/).
Also writes schedule.json, the progressive incubation schedule (modules = edited blocks, in order of
importance lost; BK-SDM defaults: AdamW, constant lr 5e-5, every SAS loss weight 1).
GRI edits in a candidate's ArchSpec are built as given.)";

}  // namespace

void add_build(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<BuildOptions>();
  auto* sub = app.add_subcommand("build", kHelp);
  sub->add_option("--teacher", o->teacher,
                  "Teacher: diffusers UNet or pipeline folder with weights, or a single-file "
                  "checkpoint (.safetensors or .ckpt)")
      ->required();
  sub->add_option("--candidates", o->candidates, "candidates.json (asdm search)");
  sub->add_option("--pick", o->pick, "Candidate: its name (c3) or 1-based position")
      ->capture_default_str();
  sub->add_option("--arch", o->arch,
                  "An ArchSpec file: {\"teacher_config\": <the teacher's config.json>, "
                  "\"edits\": [...]} (DESIGN.md §4)")
      ->check(CLI::ExistingFile);
  sub->add_option("--preset", o->preset, "BK-SDM preset: base, small or tiny")
      ->check(one_of(bk_sdm_preset_names()));
  sub->add_flag("--clme", o->clme,
                "Add CLME-CondConvs: removed ResBlocks' kernels as experts of a surviving sibling");
  sub->add_option(
         "--dtype", o->dtype,
         "Weights: float32, float16 or bfloat16 (default: the teacher's values in float32)")
      ->check(one_of(dtype_names()));
  sub->add_option(
         "--budget-hours", o->schedule.budget_hours,
         "schedule.json: compute budget in hours of the training device (0: use the step counts)")
      ->capture_default_str();
  sub->add_option("--seconds-per-step", o->schedule.seconds_per_step,
                  "schedule.json: seconds one training step takes there (needed with a budget)");
  sub->add_option("--module-steps", o->schedule.module_steps,
                  "schedule.json: steps per module without a budget")
      ->capture_default_str();
  sub->add_option("--assembly-steps", o->schedule.assembly_steps,
                  "schedule.json: assembly steps without a budget")
      ->capture_default_str();
  sub->add_option("--lr", o->schedule.lr, "schedule.json: learning rate (AdamW)")
      ->capture_default_str();
  sub->add_option("-o,--output", o->output, "Student folder")->required()->check(output_folder());
  sub->callback([o, argv] { run_build(*o, argv); });
}

}  // namespace asdm::cli
