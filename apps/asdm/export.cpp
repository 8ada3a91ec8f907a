// asdm export: a student in a format other tools load (export/student_export.h).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/log.h"
#include "export/student_export.h"

namespace asdm::cli {
namespace {

constexpr const char* kHelp =
    R"(Write a student in a format other tools load.
  --format diffusers    a plain diffusers UNet folder (a pipeline folder for a pipeline student) that
                        UNet2DConditionModel.from_pretrained / StableDiffusionPipeline.from_pretrained
                        load with no asdm code. Students whose edits have a stock config form only:
                        dropped layers, stages or mid block (BK-SDM presets), and removed transformer
                        blocks (written as per-layer transformer depths).
  --format single-file  the UNet as one original-layout checkpoint (model.diffusion_model.* keys) for
                        diffusers' from_single_file (with the stock export's folder as config),
                        ComfyUI, A1111 and kohya; also needs the same layer count in every stage.
Any other student (removed ResBlocks or attention units, CLME-CondConv, GRI attention) is refused with
the first edit that has no stock form: load it in diffusers with the asdm_diffusers package instead
(pip install ./python; pipe.unet = asdm_diffusers.load_student(path)). asdm build prints which routes
a student has. Nothing is written unless the whole export succeeds.)";

void run_export(const ExportOptions& o) {
  const ExportResult r = export_student(o);
  std::printf("wrote %s (%s, %d tensors)\n", r.output.string().c_str(), o.format.c_str(),
              r.tensors);
  if (!r.form.down_depths.empty())
    log::info("removed transformer blocks are written as per-layer transformer depths");
}

}  // namespace

void add_export(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<ExportOptions>();
  auto* sub = app.add_subcommand("export", kHelp);
  sub->add_option("--student", o->student, "Student folder (asdm build or asdm incubate)")
      ->required();
  sub->add_option("--format", o->format, "diffusers or single-file")
      ->required()
      ->check(one_of(export_format_names()));
  sub->add_option("-o,--output", o->output,
                  "New folder (diffusers) or .safetensors file (single-file)")
      ->required();
  sub->callback([o] { run_export(*o); });
  (void)argv;
}

}  // namespace asdm::cli
