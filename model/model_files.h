#pragma once
// Finding a model on disk (torch-free): a diffusers UNet folder (config.json +
// diffusion_pytorch_model.safetensors, or sharded with its .index.json, or a variant of either),
// a pipeline folder with a unet/ subfolder, a bare config.json, an asdm student folder
// (asdm_arch.json beside them), or the UNet of an original single-file checkpoint (safetensors or
// torch.save's .ckpt; model/single_file.h: its config read from its tensors); and the weight files
// of any diffusers or transformers component.
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
  // Why `weights` is empty although the folder has weight files ("" otherwise): only variants
  // that --variant did not pick, or a broken shard index. Said when weights are needed, so that
  // commands reading only the config (inspect, the cost model) still run.
  std::string weights_problem;
  // An original single-file checkpoint (SD 1.x, 2.x, SDXL, whole or the UNet alone) read as a
  // UNet: the file, its family ("SD 1.x") and its UNet config (infer_single_file_unet). `dir`,
  // `config` and `weights` are empty then; model/checkpoint.h reads its tensors through the LDM
  // names (ldm_source).
  std::filesystem::path single_file;
  std::string single_file_family;
  UNetConfig single_file_config;
};

// Throws asdm::Error saying what was looked for when nothing fits.
ModelFiles locate_model(const std::filesystem::path& path);

// The weights variant this process reads (`asdm --variant`, diffusers' `variant=`): "fp16" picks
// `diffusion_pytorch_model.fp16.safetensors` over `diffusion_pytorch_model.safetensors` in every
// component folder that has it. "" (the default) reads the plain files. Throws asdm::Error for a
// name that could not be part of such a file name.
void set_weights_variant(const std::string& variant);
const std::string& weights_variant();

// The weights of one component folder, saved by diffusers or transformers under `stem`
// ("diffusion_pytorch_model", "model"): `<stem>.safetensors`, or the shards that
// `<stem>.safetensors.index.json` lists; else the torch.save files older repositories hold
// (`<stem>.bin`, transformers' `pytorch_model.bin`, or their `.bin.index.json` shards), as
// diffusers and transformers fall back to them. With a variant V, `<stem>.V.safetensors` (and
// the rest with V) first, and the plain files where the folder has no V (as diffusers does, with
// a line saying so). Empty when the folder has none of them. A folder that holds only other
// variants is an asdm::Error naming them and `--variant`.
std::vector<std::filesystem::path> component_weights(const std::filesystem::path& dir,
                                                     const std::string& stem);
// Whether the model has weights to read (`weights` or a single file); an asdm::Error otherwise:
// its weights_problem when there is one, else `none`.
void require_weights(const ModelFiles& files, const std::string& none);
// The architecture: asdm_arch.json when present, else config.json (or a single file's inferred
// config) with no edits.
ArchSpec load_arch(const ModelFiles& files);

}  // namespace asdm
