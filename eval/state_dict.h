#pragma once
// Weights files of the reference packages: a torch.save state dict (zip format, .pth/.pt/.bin;
// a {"state_dict": ...} wrapper is unwrapped) or safetensors, as name -> CPU tensor. The legacy
// (pre-1.6) torch.save format is refused with the one-line conversion command.
#include <filesystem>
#include <string>

#include "model/tensor_io.h"

namespace asdm {

TensorMap read_state_dict(const std::filesystem::path& path);
// A torch.save file's bytes (either format); `source` names it in messages. Throws asdm::Error on
// any malformed input.
TensorMap parse_torch_save(const std::string& bytes, const std::string& source);

}  // namespace asdm
