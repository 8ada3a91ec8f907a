#pragma once
// A module's named parameters <-> a TensorMap, for the models asdm loads without the UNet's
// machinery (the VAE, text encoders, the CLIP scorer, the attribute classifier, training
// checkpoints). The UNet's own loading, with dtype conversion and inheritance, is
// model/checkpoint.h.
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

// Makes `param` the tensor `t` itself, with no copy, where shape, dtype and device agree and `t`
// is contiguous (a tensor over a weights file's own bytes, WeightsFile::map, stays one), and
// returns true; else changes nothing and returns false. Bumps the version, so that caches keyed on
// the parameter (Winograd's) see the change. `t` must be no other parameter's (they would be tied).
bool adopt_tensor(at::Tensor& param, const at::Tensor& t);

// load_module_tensors for tensors the caller gives up, each its own memory (read, or mapped from
// weights files by tensor_io.h's map_tensors): a parameter takes its tensor itself where
// adopt_tensor can, a copy where not (another dtype). Strict, with the same message. A strict
// load of a frozen component (the VAE, a text encoder) then costs no second copy of its weights.
void adopt_module_tensors(torch::nn::Module& module, TensorMap t, const std::string& what,
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
