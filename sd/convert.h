#pragma once
// asdm convert: an original single-file checkpoint (.safetensors or torch.save's .ckpt; SD 1.x,
// 2.x, SDXL) as a diffusers pipeline folder, what diffusers'
// `from_single_file(path, config=folder).save_pretrained(out)` writes, so that every other tool
// takes it (asdm's UNet commands read single files directly: model/model_files.h). The weights
// come from the file, through the same name translation the pipelines use (model/single_file.h);
// the configs, tokenizers, scheduler and any other component (a safety checker) are copied from the
// config folder, byte for byte. Light header.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace asdm {

struct ConvertOptions {
  std::filesystem::path model;   // the single file
  std::filesystem::path config;  // a pipeline folder of the same family
  std::filesystem::path output;  // the pipeline folder to write (must not exist)
  std::string dtype;             // stored weights: float32 (default), float16 or bfloat16
};

struct ConvertResult {
  std::string family;                   // "SD 1.x", "SD 2.x", "SDXL" (the file's)
  std::vector<std::string> components;  // written from the file: unet, vae, text_encoder[, _2]
};

// Writes into a temporary folder beside `output` and renames it there at the end, so a failure
// leaves nothing. Throws asdm::Error naming the file, the folder and what does not match.
ConvertResult convert_single_file(const ConvertOptions& options,
                                  const std::function<void(const std::string&)>& progress = {});

}  // namespace asdm
