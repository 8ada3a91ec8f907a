#pragma once
// asdm export: a student in a format other tools load (issue 22). "diffusers": a plain diffusers
// UNet folder (or pipeline folder, for a pipeline student) that
// UNet2DConditionModel.from_pretrained loads with no asdm code, for students whose edits have a
// stock form (export/stock_form.h). "single-file": the UNet as an original LDM/SGM checkpoint
// (model.diffusion_model.* keys) for diffusers' from_single_file, ComfyUI, A1111 and kohya.
// Students with no stock form load in diffusers through the asdm_diffusers package (python/). Light
// header.
#include <filesystem>
#include <string>
#include <vector>

#include "export/stock_form.h"

namespace asdm {

struct ExportOptions {
  std::string student;  // an asdm student: UNet folder, or pipeline folder with unet/
  std::string format;   // one of export_format_names()
  std::string output;   // a new folder (diffusers) or a new .safetensors file (single-file)
};

struct ExportResult {
  std::filesystem::path output;
  int tensors = 0;
  StockForm form;
};

// "diffusers", "single-file".
const std::vector<std::string>& export_format_names();

// Checks everything before writing (the folder is a model, its weights match its architecture
// tensor for tensor, the format can hold it, the output does not exist yet), then writes through a
// temporary name, so that a refusal or a failure leaves nothing behind. Throws asdm::Error with one
// line saying what is wrong.
ExportResult export_student(const ExportOptions& options);

}  // namespace asdm
