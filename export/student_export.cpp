#include "export/student_export.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/run_files.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "model/safetensors.h"
#include "model/single_file.h"

namespace asdm {

namespace fs = std::filesystem;

namespace {

// The student's weights under new names, bytes and dtypes as stored.
int write_renamed(const std::vector<fs::path>& files, const fs::path& out,
                  const std::function<std::string(const std::string&)>& rename,
                  const std::map<std::string, std::string>& metadata) {
  std::vector<std::unique_ptr<SafetensorsFile>> open;
  std::vector<TensorView> views;
  for (const auto& f : files) {
    open.push_back(std::make_unique<SafetensorsFile>(f));
    for (const auto& t : open.back()->header().tensors)
      views.push_back({rename(t.name), t.dtype, t.shape, open.back()->data(t)});
  }
  write_safetensors(out, views, metadata);
  return static_cast<int>(views.size());
}

}  // namespace

const std::vector<std::string>& export_format_names() {
  static const std::vector<std::string> names = {"diffusers", "single-file"};
  return names;
}

ExportResult export_student(const ExportOptions& o) {
  // ---- check: format, input, weights, form, output ----
  const auto& names = export_format_names();
  if (std::find(names.begin(), names.end(), o.format) == names.end())
    fail("unknown export format '{}' (known: {})", o.format, join_limited(names));
  const ModelFiles files = locate_model(o.student);
  const std::string not_student =
      fmt::format("{} is not a student folder with weights (asdm build writes one)", o.student);
  if (files.dir.empty()) fail("{}", not_student);
  require_weights(files, not_student);
  const ArchSpec spec = load_arch(files);
  try {
    load_unet(files.dir);  // strict: every tensor present, none extra, every shape right
  } catch (const Error& e) {
    fail("{}: the weights do not match its {}: {}", o.student,
         files.arch.empty() ? "config.json" : "asdm_arch.json", e.what());
  }
  ExportResult r;
  r.form = stock_form(spec);
  if (!r.form.stock())
    fail("{} has no stock diffusers form ({}); load it with asdm_diffusers (python/) instead",
         o.student, r.form.why_not);
  if (o.format == "single-file" && !r.form.single_file())
    fail("{} has no single-file form: {}", o.student, r.form.single_file_why_not);
  r.output = o.output;
  if (r.output.empty()) fail("give the output with -o");
  if (fs::exists(r.output)) fail("{} exists; give a new output", r.output.string());
  if (o.format == "single-file" && r.output.extension() != ".safetensors")
    fail("a single-file export is a .safetensors file; got {}", r.output.string());
  if (const std::string why = output_path_problem(r.output, o.format == "diffusers"); !why.empty())
    fail("{}", why);

  // ---- write, through a temporary name beside the output ----
  StagedOutput tmp(r.output);
  const std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                       {"asdm_student", o.student}};
  if (o.format == "diffusers") {
    fs::path unet_dir = tmp.path();
    const fs::path root = o.student;
    if (fs::exists(root / "model_index.json") && files.dir == root / "unet") {
      copy_folder_except(root, tmp.path(),
                         {"unet", "checkpoint", "schedule.json", "incubation.json",
                          "incubation.jsonl", "train.jsonl"});
      unet_dir = tmp.path() / "unet";
    }
    fs::create_directories(unet_dir);
    write_json_atomic(unet_dir / "config.json", r.form.diffusers_config());
    r.tensors = write_renamed(
        files.weights, unet_dir / "diffusion_pytorch_model.safetensors",
        [&](const std::string& k) { return r.form.stock_key(k); }, metadata);
  } else {
    SingleFileLayout layout;
    layout.unet = r.form.config;
    // The config rides along (other tools ignore it), so that asdm reads the file back exactly,
    // heads and norm groups included (infer_single_file_unet).
    auto with_config = metadata;
    with_config[kSingleFileConfigKey] = r.form.diffusers_config().dump();
    r.tensors = write_renamed(
        files.weights, tmp.path(),
        [&](const std::string& k) { return ldm_source("unet", r.form.stock_key(k), layout).key; },
        with_config);
  }
  tmp.commit();
  return r;
}

}  // namespace asdm
