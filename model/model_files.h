#pragma once
// Finding a model on disk (torch-free): a diffusers UNet folder (config.json +
// diffusion_pytorch_model.safetensors, or sharded with its .index.json), a pipeline folder with a
// unet/ subfolder, a bare config.json, or an asdm student folder (asdm_arch.json beside them).
#include <filesystem>
#include <string>
#include <vector>

#include "model/arch_spec.h"

namespace asdm {

inline constexpr const char* kArchFileName = "asdm_arch.json";
inline constexpr const char* kWeightsFileName = "diffusion_pytorch_model.safetensors";
inline constexpr const char* kWeightsIndexFileName =
    "diffusion_pytorch_model.safetensors.index.json";

struct ModelFiles {
  std::filesystem::path dir;                   // the UNet folder ("" for a bare config file)
  std::filesystem::path config;                // config.json
  std::filesystem::path arch;                  // asdm_arch.json, "" when absent
  std::vector<std::filesystem::path> weights;  // safetensors files, empty for a bare config
};

// Throws asdm::Error saying what was looked for when nothing fits.
ModelFiles locate_model(const std::filesystem::path& path);
// The architecture: asdm_arch.json when present, else config.json with no edits.
ArchSpec load_arch(const ModelFiles& files);

}  // namespace asdm
