#pragma once
// Weights files of the reference packages: a torch.save state dict (zip or legacy format,
// .pth/.pt/.bin; a {"state_dict": ...} wrapper is unwrapped; model/torch_save.h) or safetensors,
// as name -> CPU tensor.
#include <filesystem>
#include <string>

#include "model/tensor_io.h"

namespace asdm {

TensorMap read_state_dict(const std::filesystem::path& path);
// A torch.save file's bytes (either format); `source` names it in messages. Throws asdm::Error on
// any malformed input.
TensorMap parse_torch_save(const std::string& bytes, const std::string& source);

}  // namespace asdm
