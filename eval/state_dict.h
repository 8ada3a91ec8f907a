#pragma once
// Weights files of the reference packages: a torch.save state dict (zip format, .pth/.pt/.bin;
// a {"state_dict": ...} wrapper is unwrapped) or safetensors, as name -> CPU tensor. The legacy
// (pre-1.6) torch.save format is refused with the one-line conversion command.
#include <filesystem>

#include "model/tensor_io.h"

namespace asdm {

TensorMap read_state_dict(const std::filesystem::path& path);

}  // namespace asdm
