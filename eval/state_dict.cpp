#include "eval/state_dict.h"

#include <torch/torch.h>

#include "model/torch_save.h"
#include "model/weights_file.h"

namespace asdm {

TensorMap read_state_dict(const std::filesystem::path& path) {
  return open_weights_file(path)->read_all();
}

TensorMap parse_torch_save(const std::string& bytes, const std::string& source) {
  return TorchSaveFile(bytes, source).read_all();
}

}  // namespace asdm
