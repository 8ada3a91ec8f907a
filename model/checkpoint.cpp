#include "model/checkpoint.h"

#include <fstream>
#include <map>

#include <fmt/ranges.h>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "model/module_init.h"
#include "model/runtime.h"
#include "model/tensor_io.h"
#include "model/weights_file.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

std::string shape_str(at::IntArrayRef s) { return shape_string(s.vec()); }
std::string shape_str(const std::vector<int64_t>& s) { return shape_string(s); }

struct Source {
  const WeightsFile* file;
  std::vector<int64_t> shape;
};

// Copies the tensor `name` of `src` into `dst` (dtype and device converted).
void assign(at::Tensor& dst, const std::string& name, const Source& src) {
  torch::NoGradGuard ng;
  dst.copy_(src.file->read(name));
}

// Makes `dst` the file's tensor itself where it can (a CPU parameter of the file's dtype, a
// safetensors file: WeightsFile::map), with no copy and no memory of its own until written; else
// assign(). Only where each file tensor fills one parameter: two parameters made one tensor
// would be tied.
void adopt(at::Tensor& dst, const std::string& name, const Source& src) {
  if (dst.device().is_cpu()) {
    at::Tensor mapped = src.file->map(name);
    if (mapped.defined() && mapped.scalar_type() == dst.scalar_type() &&
        mapped.sizes() == dst.sizes()) {
      torch::NoGradGuard ng;
      dst.set_data(mapped);
      dst.unsafeGetTensorImpl()->bump_version();  // caches keyed on the tensor (Winograd's) see it
      return;
    }
  }
  assign(dst, name, src);
}

std::string describe_list(const std::vector<std::string>& v) { return join_limited(v, 6); }

// key -> source over all files; a key in two shards is an error.
std::map<std::string, Source> index_files(const std::vector<std::unique_ptr<WeightsFile>>& files) {
  std::map<std::string, Source> out;
  for (const auto& f : files) {
    for (const auto& name : f->names()) {
      if (!out.emplace(name, Source{f.get(), f->shape(name)}).second)
        fail("checkpoint key '{}' appears in two shards (second: {})", name, f->path().string());
    }
  }
  return out;
}

std::vector<std::unique_ptr<WeightsFile>> open_all(const std::vector<fs::path>& paths) {
  std::vector<std::unique_ptr<WeightsFile>> files;
  for (const auto& p : paths) files.push_back(open_weights_file(p));
  return files;
}

}  // namespace

void load_weights(UNet& unet, const std::vector<fs::path>& paths) {
  if (paths.empty()) fail("no weight files given");
  const auto files = open_all(paths);
  const auto sources = index_files(files);
  auto params = unet.module().named_parameters(true);
  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& item : params) {
    auto it = sources.find(item.key());
    if (it == sources.end()) {
      missing.push_back(item.key());
    } else if (it->second.shape != item.value().sizes().vec()) {
      mismatched.push_back(fmt::format("{} (checkpoint {} vs model {})", item.key(),
                                       shape_str(it->second.shape),
                                       shape_str(item.value().sizes())));
    }
  }
  for (const auto& [key, src] : sources)
    if (!params.contains(key)) unexpected.push_back(key);
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
    fail("checkpoint {} does not match the model: {}", paths.front().parent_path().string(),
         fmt::join(parts, "; "));
  }
  for (auto& item : params) adopt(item.value(), item.key(), sources.at(item.key()));
}

void inherit_weights(UNet& student, const std::vector<fs::path>& teacher_paths) {
  const auto files = open_all(teacher_paths);
  const auto sources = index_files(files);
  std::vector<std::string> missing;
  auto params = student.module().named_parameters(true);
  for (auto& item : params) {
    const std::string tk = student.spec().teacher_key(item.key());
    if (tk.empty()) continue;  // a new tensor (a CLME router): keeps its initialisation
    auto it = sources.find(tk);
    if (it == sources.end() || it->second.shape != item.value().sizes().vec()) {
      missing.push_back(tk == item.key() ? tk
                                         : fmt::format("{} (from teacher {})", item.key(), tk));
      continue;
    }
    assign(item.value(), tk, it->second);
  }
  if (!missing.empty())
    fail("the teacher checkpoint has no tensor of the right shape for {} student key(s): {}",
         missing.size(), describe_list(missing));
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
    SkipInitGuard skip(!files.weights.empty());  // load_weights below fills every parameter
    unet = std::make_unique<UNet>(load_arch(files));
  }
  if (files.weights.empty()) {
    if (!files.weights_problem.empty()) fail("{}", files.weights_problem);
    if (!opts.allow_random_weights)
      fail("model '{}' has no weights (expected {} or {}{} beside config.json)", model.string(),
           kWeightsFileName, kWeightsIndexFileName,
           weights_variant().empty() ? "" : ", or their '" + weights_variant() + "' variant");
    log::info("model '{}' has no weights: using random initialisation", model.string());
  } else {
    load_weights(*unet, files.weights);
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
