#include "model/model_files.h"

#include <cctype>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "core/suggest.h"
#include "model/safetensors.h"
#include "model/single_file.h"
#include "model/torch_save_index.h"

namespace asdm {

namespace fs = std::filesystem;

namespace {

std::string& variant_setting() {
  static std::string v;
  return v;
}

// The shards a safetensors index lists, each a file of the same folder.
std::vector<fs::path> index_shards(const fs::path& index) {
  const auto idx = read_json_file(index);
  if (!idx.is_object() || !idx.contains("weight_map") || !idx["weight_map"].is_object())
    fail("{}: no 'weight_map' object", index.string());
  std::set<std::string> shards;
  for (const auto& [key, file] : idx["weight_map"].items()) {
    if (!file.is_string())
      fail("{}: weight_map entry '{}' is not a file name", index.string(), key);
    shards.insert(file.get<std::string>());
  }
  if (shards.empty()) fail("{}: its weight_map is empty", index.string());
  std::vector<fs::path> out;
  for (const auto& s : shards) {
    if (s.empty() || fs::path(s).has_parent_path())
      fail("{}: shard name '{}' must be a file name in the same folder", index.string(), s);
    if (!fs::exists(index.parent_path() / s)) fail("{}: shard '{}' is missing", index.string(), s);
    out.push_back(index.parent_path() / s);
  }
  return out;
}

// The file names diffusers and transformers save a component's weights under: safetensors first,
// then the torch.save form older repositories hold (transformers names it pytorch_model.bin where
// its safetensors file is model.safetensors).
std::vector<std::pair<std::string, std::string>> weight_names(const std::string& stem) {
  return {{stem, ".safetensors"}, {stem == "model" ? "pytorch_model" : stem, ".bin"}};
}

// `<stem>.safetensors`, else the shards of `<stem>.safetensors.index.json`, else the same as
// .bin; with `variant`, the names diffusers' _add_variant gives them. Empty when none is there.
std::vector<fs::path> weights_named(const fs::path& dir, const std::string& stem,
                                    const std::string& variant) {
  const std::string v = variant.empty() ? "" : "." + variant;
  for (const auto& [name, ext] : weight_names(stem)) {
    if (const fs::path f = dir / (name + v + ext); fs::is_regular_file(f)) return {f};
    if (const fs::path i = dir / (name + ext + ".index" + v + ".json"); fs::is_regular_file(i))
      return index_shards(i);
  }
  return {};
}

// The variants a folder holds weights of: V in `<stem>.V.safetensors`,
// `<stem>.V-00001-of-00002.safetensors` and `<stem>.safetensors.index.V.json` (and the same .bin).
std::vector<std::string> variants_in(const fs::path& dir, const std::string& stem) {
  std::set<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    for (const auto& [base, ext] : weight_names(stem)) {
      const std::string index = base + ext + ".index.";
      std::string v;
      if (name.rfind(index, 0) == 0 && name.size() > index.size() + 5 &&
          name.compare(name.size() - 5, 5, ".json") == 0) {
        v = name.substr(index.size(), name.size() - index.size() - 5);
      } else if (name.rfind(base + ".", 0) == 0 && name.size() > base.size() + 1 + ext.size() &&
                 name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
        v = name.substr(base.size() + 1, name.size() - base.size() - 1 - ext.size());
        if (const auto shard = v.find("-0"); shard != std::string::npos && shard > 0)
          v = v.substr(0, shard);  // fp16-00001-of-00002
      }
      if (!v.empty() && v.find('.') == std::string::npos) found.insert(v);
    }
  }
  return {found.begin(), found.end()};
}

// Whether the file starts with bytes no JSON text has (safetensors' length, torch.save's zip or
// pickle): a weights file given where a config was expected.
bool binary_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  in.read(head, sizeof head);
  if (in.gcount() > 0 && static_cast<unsigned char>(head[0]) == 0x80) return true;  // a pickle
  for (std::streamsize i = 0; i < in.gcount(); ++i) {
    const auto c = static_cast<unsigned char>(head[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return true;
  }
  return false;
}

}  // namespace

void set_weights_variant(const std::string& variant) {
  for (char c : variant)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
      fail("weights variant '{}' may hold only letters, digits, '_' and '-' (like fp16, non_ema)",
           variant);
  variant_setting() = variant;
}

const std::string& weights_variant() { return variant_setting(); }

std::vector<fs::path> component_weights(const fs::path& dir, const std::string& stem) {
  const std::string& variant = weights_variant();
  if (!variant.empty()) {
    if (auto files = weights_named(dir, stem, variant); !files.empty()) return files;
  }
  auto files = weights_named(dir, stem, "");
  const auto variants = variants_in(dir, stem);
  if (!files.empty()) {
    if (!variant.empty())
      log::info("'{}' has no '{}' variant of its weights: reading {}", dir.string(), variant,
                files.front().filename().string());
    return files;
  }
  if (!variants.empty()) {
    if (variant.empty())
      fail(
          "'{}' has no {}.safetensors, only the weights variant{} {}: pick one with `asdm "
          "--variant {} ...`",
          dir.string(), stem, variants.size() == 1 ? "" : "s", quoted_list(variants),
          variants.front());
    fail("'{}' has no '{}' variant of its weights (nor {}.safetensors); it has {}{}", dir.string(),
         variant, stem, quoted_list(variants), did_you_mean(variant, variants));
  }
  return {};
}

namespace {

// The UNet of an original single-file checkpoint: safetensors, or a torch.save file (.ckpt) whose
// index is read without libtorch (model/torch_save_index.h).
ModelFiles locate_single_file(const fs::path& path) {
  ModelFiles m;
  m.single_file = path;
  std::vector<std::string> keys;
  std::map<std::string, std::vector<int64_t>> shapes;
  std::map<std::string, std::string> metadata;
  if (is_torch_save_file(path)) {
    const MappedFile file(path);
    TorchSaveIndex index = index_torch_save(file.bytes(), path.string());
    keys = std::move(index.names);
    for (auto& [name, t] : index.tensors) shapes.emplace(name, std::move(t.size));
  } else {
    const SafetensorsFile file(path);
    for (const auto& e : file.header().tensors) {
      keys.push_back(e.name);
      shapes.emplace(e.name, e.shape);
    }
    metadata = file.header().metadata;
  }
  const auto shape_of = [&](const std::string& k) -> std::optional<std::vector<int64_t>> {
    const auto it = shapes.find(k);
    if (it == shapes.end()) return std::nullopt;
    return it->second;
  };
  if (shapes.count("conv_in.weight"))
    fail(
        "'{}' holds a diffusers UNet's weights, not a single-file checkpoint: give the folder "
        "that holds it with its config.json",
        path.string());
  SingleFileUnet unet;
  try {
    unet = infer_single_file_unet(keys, shape_of, metadata);
  } catch (const Error& e) {
    fail("'{}': {}", path.string(), e.what());
  }
  m.single_file_family = to_string(unet.family);
  m.single_file_config = unet.config;
  static std::set<std::string> said;  // once per file and process: commands locate a model often
  if (said.insert(fs::absolute(path).lexically_normal().string()).second)
    log::info("'{}': the UNet of an {} single file, its config {}", path.string(),
              m.single_file_family,
              unet.config_from_metadata ? "from its metadata"
                                        : "read from its tensors (heads and norm groups as the "
                                          "family has them)");
  return m;
}

}  // namespace

ModelFiles locate_model(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("model '{}' does not exist", path.string());
  ModelFiles m;
  if (fs::is_regular_file(path, ec)) {
    if (path.filename() == kArchFileName) {
      m.arch = path;
    } else {
      if (binary_file(path)) return locate_single_file(path);
      m.config = path;
    }
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
  try {
    m.weights = component_weights(dir, "diffusion_pytorch_model");
  } catch (const Error& e) {
    m.weights_problem = e.what();
  }
  return m;
}

void require_weights(const ModelFiles& files, const std::string& none) {
  if (!files.weights.empty() || !files.single_file.empty()) return;
  if (!files.weights_problem.empty()) fail("{}", files.weights_problem);
  fail("{}", none);
}

ArchSpec load_arch(const ModelFiles& files) {
  if (!files.single_file.empty()) return arch_from_config(files.single_file_config);
  if (!files.arch.empty()) return read_arch_spec(files.arch);
  return arch_from_config(load_unet_config(files.config));
}

}  // namespace asdm
