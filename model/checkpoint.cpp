#include "model/checkpoint.h"

#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <fmt/ranges.h>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "model/module_init.h"
#include "model/module_io.h"
#include "model/runtime.h"
#include "model/single_file.h"
#include "model/tensor_io.h"
#include "model/weights_file.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

std::string shape_str(at::IntArrayRef s) { return shape_string(s.vec()); }
std::string shape_str(const std::vector<int64_t>& s) { return shape_string(s); }

struct Source {
  const WeightsFile* file;
  std::string key;  // the file's name for the tensor
  std::vector<int64_t> shape;
};

// Copies the tensor of `src` into `dst` (dtype and device converted).
void assign(at::Tensor& dst, const Source& src) {
  torch::NoGradGuard ng;
  dst.copy_(src.file->read(src.key));
}

// Makes `dst` the file's tensor itself where it can (a CPU parameter of the file's dtype, a
// safetensors file: WeightsFile::map), with no copy and no memory of its own until written; else
// assign(). Only where each file tensor fills one parameter: two parameters made one tensor
// would be tied.
void adopt(at::Tensor& dst, const Source& src) {
  if (dst.device().is_cpu()) {
    const at::Tensor mapped = src.file->map(src.key);
    if (mapped.defined() && adopt_tensor(dst, mapped)) return;
  }
  assign(dst, src);
}

std::string describe_list(const std::vector<std::string>& v) { return join_limited(v, 6); }

// A model's UNet tensors by their diffusers names: a folder's files (a key in two shards is an
// error), or an original single file through its LDM names (its EMA copy with `asdm --ema`).
class Checkpoint {
 public:
  explicit Checkpoint(const ModelFiles& m) {
    if (!m.single_file.empty()) {
      files_.push_back(open_weights_file(m.single_file));
      layout_.unet = m.single_file_config;
      single_ = true;
      ema_ = use_single_file_ema(m.single_file.string(), files_.front()->names());
      prefix_ = ema_ ? "model_ema.diffusion_model" : "model.diffusion_model.";
      name_ = m.single_file.string();
      return;
    }
    if (m.weights.empty()) fail("no weight files given");
    for (const auto& p : m.weights) files_.push_back(open_weights_file(p));
    for (const auto& f : files_)
      for (const auto& name : f->names())
        if (!index_.emplace(name, Source{f.get(), name, f->shape(name)}).second)
          fail("checkpoint key '{}' appears in two shards (second: {})", name, f->path().string());
    name_ = m.weights.front().parent_path().string();
  }

  const std::string& name() const { return name_; }

  // The tensor named `key` in diffusers' names, if the checkpoint has one.
  std::optional<Source> find(const std::string& key) const {
    if (!single_) {
      const auto it = index_.find(key);
      return it == index_.end() ? std::nullopt : std::optional<Source>(it->second);
    }
    std::string k;
    try {
      k = ldm_source("unet", key, layout_).key;
    } catch (const Error&) {
      return std::nullopt;  // a key the layout has no place for: missing
    }
    if (ema_) k = ldm_ema_key(k);
    const WeightsFile& f = *files_.front();
    if (!f.contains(k)) return std::nullopt;
    return Source{&f, k, f.shape(k)};
  }

  // The checkpoint's UNet tensors (in its own names) that `used` lacks.
  std::vector<std::string> unused(const std::set<std::string>& used) const {
    std::vector<std::string> out;
    if (!single_) {
      for (const auto& [key, src] : index_)
        if (!used.count(key)) out.push_back(key);
      return out;
    }
    for (const auto& k : files_.front()->names())
      if (k.rfind(prefix_, 0) == 0 && !used.count(k)) out.push_back(k);
    return out;
  }

 private:
  std::vector<std::unique_ptr<WeightsFile>> files_;
  std::map<std::string, Source> index_;
  SingleFileLayout layout_;
  bool single_ = false, ema_ = false;
  std::string prefix_, name_;
};

ModelFiles weights_only(const std::vector<fs::path>& paths) {
  ModelFiles m;
  m.weights = paths;
  return m;
}

}  // namespace

void load_weights(UNet& unet, const ModelFiles& model) {
  const Checkpoint ckpt(model);
  auto params = unet.module().named_parameters(true);
  std::vector<std::string> missing, mismatched;
  std::vector<std::pair<at::Tensor*, Source>> fills;
  std::set<std::string> used;
  for (auto& item : params) {
    auto src = ckpt.find(item.key());
    if (!src) {
      missing.push_back(item.key());
      continue;
    }
    used.insert(src->key);
    if (src->shape != item.value().sizes().vec()) {
      mismatched.push_back(fmt::format("{} (checkpoint {} vs model {})", item.key(),
                                       shape_str(src->shape), shape_str(item.value().sizes())));
      continue;
    }
    fills.emplace_back(&item.value(), *src);
  }
  const std::vector<std::string> unexpected = ckpt.unused(used);
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::vector<std::string> parts;
    if (!missing.empty())
      parts.push_back(fmt::format("{} missing key(s): {}", missing.size(), describe_list(missing)));
    if (!unexpected.empty())
      parts.push_back(
          fmt::format("{} unexpected key(s): {}", unexpected.size(), describe_list(unexpected)));
    if (!mismatched.empty())
      parts.push_back(
          fmt::format("{} shape mismatch(es): {}", mismatched.size(), describe_list(mismatched)));
    fail("checkpoint {} does not match the model: {}", ckpt.name(), fmt::join(parts, "; "));
  }
  for (auto& [param, src] : fills) adopt(*param, src);
}

void load_weights(UNet& unet, const std::vector<fs::path>& paths) {
  load_weights(unet, weights_only(paths));
}

void inherit_weights(UNet& student, const ModelFiles& teacher) {
  const Checkpoint ckpt(teacher);
  std::vector<std::string> missing;
  auto params = student.module().named_parameters(true);
  for (auto& item : params) {
    const std::string tk = student.spec().teacher_key(item.key());
    if (tk.empty()) continue;  // a new tensor (a CLME router): keeps its initialisation
    const auto src = ckpt.find(tk);
    if (!src || src->shape != item.value().sizes().vec()) {
      missing.push_back(tk == item.key() ? tk
                                         : fmt::format("{} (from teacher {})", item.key(), tk));
      continue;
    }
    assign(item.value(), *src);
  }
  if (!missing.empty())
    fail("the teacher checkpoint has no tensor of the right shape for {} student key(s): {}",
         missing.size(), describe_list(missing));
}

void inherit_weights(UNet& student, const std::vector<fs::path>& teacher_paths) {
  inherit_weights(student, weights_only(teacher_paths));
}

std::vector<InheritedTensor> inheritance_table(const UNet& student) {
  std::vector<InheritedTensor> table;
  for (const auto& item : student.module().named_parameters(true))
    table.push_back(
        {item.key(), student.spec().teacher_key(item.key()), item.value().sizes().vec()});
  return table;
}

std::unique_ptr<UNet> load_unet(const fs::path& model, const LoadOptions& opts) {
  const ModelFiles files = locate_model(model);
  std::unique_ptr<UNet> unet;
  {
    // load_weights below fills every parameter
    SkipInitGuard skip(!files.weights.empty() || !files.single_file.empty());
    unet = std::make_unique<UNet>(load_arch(files));
  }
  if (files.weights.empty() && files.single_file.empty()) {
    if (!files.weights_problem.empty()) fail("{}", files.weights_problem);
    if (!opts.allow_random_weights)
      fail("model '{}' has no weights (expected {} or {}{} beside config.json)", model.string(),
           kWeightsFileName, kWeightsIndexFileName,
           weights_variant().empty() ? "" : ", or their '" + weights_variant() + "' variant");
    log::info("model '{}' has no weights: using random initialisation", model.string());
  } else {
    load_weights(*unet, files);
  }
  unet->to(opts.device, opts.dtype);
  if (opts.channels_last) unet->set_channels_last(true);
  return unet;
}

void save_unet(const UNet& unet, const fs::path& dir, const std::string& dtype) {
  const ArchSpec& spec = unet.spec();
  TensorMap tensors;
  for (const auto& item : unet.module().named_parameters(true)) {
    at::Tensor t = item.value().detach();
    if (!dtype.empty()) t = t.to(torch_dtype(parse_dtype(dtype)));
    tensors[item.key()] = t;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create folder '{}': {}", dir.string(), ec.message());
  write_tensors(dir / kWeightsFileName, tensors);
  write_json_atomic(dir / "config.json", to_diffusers_json(spec.student_config()));
  if (!spec.diffusers_expressible()) {
    // An artifact like any other (DESIGN.md §8): the command that wrote it and where.
    std::vector<std::string> argv;
    std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
    for (std::string arg; std::getline(cmdline, arg, '\0');) argv.push_back(arg);
    const nlohmann::json arch = to_json(spec);
    nlohmann::json j = make_artifact("arch_spec", arch.at("schema_version").get<int>(),
                                     make_run_context(argv, unet.device()));
    j.update(arch);
    write_json_atomic(dir / kArchFileName, j);
  } else if (fs::exists(dir / kArchFileName)) {
    fs::remove(dir / kArchFileName, ec);
  }
}

}  // namespace asdm
