#pragma once
// safetensors <-> libtorch tensors.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/safetensors.h"

namespace asdm {

using TensorMap = std::map<std::string, at::Tensor>;

// "[2, 4, 64, 64]", for messages.
std::string shape_string(const std::vector<int64_t>& shape);

// A CPU copy of one tensor of the file, in the file's dtype (every safetensors dtype, fp8
// included).
at::Tensor read_tensor(const SafetensorsFile& file, const TensorEntry& entry);
// The tensor over the file's own bytes, no copy: a CPU tensor in the file's dtype whose memory is
// the file's mapped pages made copy-on-write (SafetensorsFile::writable_data: writing to it never
// changes the file), keeping `file` open while it lives. Undefined where that cannot be: a dtype
// libtorch lacks, bytes not aligned to the element size, an empty tensor, or the system refusing
// writable pages; read_tensor copies then.
at::Tensor map_tensor(const std::shared_ptr<SafetensorsFile>& file, const TensorEntry& entry);
// Every tensor of a safetensors or torch.save file (model/weights_file.h).
TensorMap read_tensors(const std::filesystem::path& path);
// The tensors of several files (as read_tensors) over the files' own bytes where
// WeightsFile::map can hand them out, read (copied) where not: each tensor its own memory. For a
// strict load that adopts them (model/module_io.h's adopt_module_tensors).
TensorMap map_tensors(const std::vector<std::filesystem::path>& paths);
// The tensors of several files (the shards of one checkpoint); a name in two of them is an
// asdm::Error naming both.
TensorMap read_tensors(const std::vector<std::filesystem::path>& paths);
// Writes contiguous CPU copies of the tensors (F32/F16/BF16/F64/I64/I32/I16/I8/U8/BOOL).
void write_tensors(const std::filesystem::path& path, const TensorMap& tensors,
                   const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace asdm
