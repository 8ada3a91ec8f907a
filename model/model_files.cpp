#include "model/model_files.h"

#include <set>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"

namespace asdm {

namespace fs = std::filesystem;

ModelFiles locate_model(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("model '{}' does not exist", path.string());
  ModelFiles m;
  if (fs::is_regular_file(path, ec)) {
    if (path.filename() == kArchFileName)
      m.arch = path;
    else
      m.config = path;
    return m;
  }
  fs::path dir = path;
  if (!fs::exists(dir / "config.json") && fs::exists(dir / "unet" / "config.json"))
    dir = dir / "unet";
  if (!fs::exists(dir / "config.json"))
    fail("'{}' is not a diffusers UNet folder: no config.json there (nor in unet/)", path.string());
  m.dir = dir;
  m.config = dir / "config.json";
  if (fs::exists(dir / kArchFileName)) m.arch = dir / kArchFileName;
  if (fs::exists(dir / kWeightsFileName)) {
    m.weights.push_back(dir / kWeightsFileName);
  } else if (fs::exists(dir / kWeightsIndexFileName)) {
    const auto idx = read_json_file(dir / kWeightsIndexFileName);
    if (!idx.contains("weight_map") || !idx["weight_map"].is_object())
      fail("{}: no 'weight_map' object", (dir / kWeightsIndexFileName).string());
    std::set<std::string> shards;
    for (const auto& [key, file] : idx["weight_map"].items()) {
      if (!file.is_string())
        fail("{}: weight_map entry '{}' is not a file name", (dir / kWeightsIndexFileName).string(),
             key);
      shards.insert(file.get<std::string>());
    }
    for (const auto& s : shards) {
      if (fs::path(s).has_parent_path() || s.empty())
        fail("{}: shard name '{}' must be a file name in the same folder",
             (dir / kWeightsIndexFileName).string(), s);
      if (!fs::exists(dir / s))
        fail("{}: shard '{}' is missing", (dir / kWeightsIndexFileName).string(), s);
      m.weights.push_back(dir / s);
    }
  } else if (fs::exists(dir / "diffusion_pytorch_model.bin")) {
    fail(
        "'{}' holds only a pickled diffusion_pytorch_model.bin; asdm reads safetensors (convert "
        "with diffusers' save_pretrained(safe_serialization=True))",
        dir.string());
  }
  return m;
}

ArchSpec load_arch(const ModelFiles& files) {
  if (!files.arch.empty()) return read_arch_spec(files.arch);
  return arch_from_config(load_unet_config(files.config));
}

}  // namespace asdm
