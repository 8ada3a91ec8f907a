#pragma once
// A module's named parameters <-> a TensorMap, for the small models asdm saves itself (the text
// encoder, the attribute classifier, training checkpoints). The UNet's own loading, with dtype
// conversion and inheritance, is model/checkpoint.h.
#include <string>
#include <vector>

#include "model/tensor_io.h"

namespace torch::nn {
class Module;
}

namespace asdm {

// Detached CPU views of the parameters, keyed prefix + name.
TensorMap module_tensors(const torch::nn::Module& module, const std::string& prefix = "");

// Copies t[prefix + name] into every parameter. Strict: one asdm::Error, "<what> do not match:
// ...", lists every missing or mis-shaped key and every key under `prefix` the module lacks (keys
// containing `ignore`, when not empty, are allowed extras, e.g. transformers' position_ids).
void load_module_tensors(torch::nn::Module& module, const TensorMap& t, const std::string& what,
                         const std::string& prefix = "", const std::string& ignore = "");

// Points every parameter of `module` whose name does not start with `except` at `source`'s tensor
// of the same name, where shape, dtype and device agree: a model built from a frozen one with a few
// modules changed takes the rest from it, with no second copy. The names must mean the same
// weights in both (outside `except`, `module` is `source`'s structure). Call before `module` runs
// (a cache keyed on a weight, as Winograd's, would not see the change); neither model may write to
// the shared tensors afterwards. Returns the names outside `except` that keep their own tensor.
std::vector<std::string> share_parameters(torch::nn::Module& module,
                                          const torch::nn::Module& source,
                                          const std::string& except = "");

}  // namespace asdm
