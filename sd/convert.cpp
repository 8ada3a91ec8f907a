#include "sd/convert.h"

#include <set>

#include <torch/torch.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/run_files.h"
#include "model/checkpoint.h"
#include "model/single_file.h"
#include "model/unet.h"
#include "model/weights_file.h"
#include "sd/clip_text.h"
#include "sd/sd_pipeline.h"
#include "sd/vae.h"

namespace asdm {

namespace fs = std::filesystem;

ConvertResult convert_single_file(const ConvertOptions& o,
                                  const std::function<void(const std::string&)>& progress) {
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  // ---- check ----
  if (o.output.empty()) fail("give the output folder with -o");
  if (fs::exists(o.output)) fail("{} exists; give a new output folder", o.output.string());
  if (!fs::exists(o.model)) fail("model '{}' does not exist", o.model.string());
  if (!fs::is_regular_file(o.model))
    fail(
        "'{}' is not a single-file checkpoint (a .safetensors or .ckpt file); a pipeline folder "
        "needs no converting",
        o.model.string());
  if (o.config.empty())
    fail(
        "a single file carries no configs or tokenizer: give --config, a diffusers pipeline "
        "folder of the same family");
  const std::string dtype =
      o.dtype.empty() ? "float32" : std::string(to_string(parse_dtype(o.dtype)));
  ConvertResult r;
  r.family = to_string(detect_single_file_family(open_weights_file(o.model)->names()));

  // ---- load: every tensor through the pipelines' name translation, shapes checked ----
  say("reading " + o.model.string());
  const auto pipe = SdPipeline::load(o.model, "cpu", dtype, o.config);

  // ---- write, into a temporary folder beside the output ----
  StagedOutput tmp(o.output);
  r.components = {"unet", "vae", "text_encoder"};
  if (pipe->family() == PipelineFamily::kSdxl) r.components.push_back("text_encoder_2");
  copy_folder_except(o.config, tmp.path(), {r.components.begin(), r.components.end()});
  auto keep_config = [&](const std::string& part) {
    // The config folder's own config.json, not asdm's rewriting of it: every key kept.
    fs::copy_file(o.config / part / "config.json", tmp.path() / part / "config.json",
                  fs::copy_options::overwrite_existing);
  };
  for (const auto& part : r.components) {
    say(part);
    if (part == "unet") {
      save_unet(pipe->unet(), tmp.path() / part);
    } else if (part == "vae") {
      pipe->vae().save(tmp.path() / part);
    } else {
      pipe->text_encoder(part == "text_encoder" ? 0 : 1).save(tmp.path() / part);
    }
    keep_config(part);
  }
  tmp.commit();
  return r;
}

}  // namespace asdm
