#pragma once
// Layers whose random initialisation can be skipped. Constructing SD 1.5's UNet, VAE and text
// encoder draws about a billion random numbers through libtorch's serial CPU generator (about 3 s
// of an 8 s `asdm generate` on 2 cores) that a strict load then overwrites; diffusers skips them
// too (low_cpu_mem_usage). The UNet, VAE and CLIP models build their Linear, Conv2d and Embedding
// layers here. Include only from .cpp files that use libtorch.
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

namespace asdm {

// While one lives on this thread, make_linear, make_conv2d and make_embedding leave the new
// parameters' memory uninitialised, and the default CPU generator is left as the guard found it.
// Only for models whose every parameter is then filled by a strict load (one that fails when a
// parameter is missing): the loaders in model/checkpoint.h, sd/ and eval/ hold one; weight
// inheritance does not (new tensors keep their initialisation). `active` false does nothing.
class SkipInitGuard {
 public:
  explicit SkipInitGuard(bool active = true);
  ~SkipInitGuard();
  SkipInitGuard(const SkipInitGuard&) = delete;
  SkipInitGuard& operator=(const SkipInitGuard&) = delete;

 private:
  bool active_, previous_;
  at::Tensor generator_state_;
};
// Whether a SkipInitGuard is active on this thread.
bool init_skipped();

// libtorch's layers: initialised as libtorch does (the same draws, in the same order) unless a
// SkipInitGuard is active.
torch::nn::Linear make_linear(const torch::nn::LinearOptions& options);
torch::nn::Conv2d make_conv2d(const torch::nn::Conv2dOptions& options);
torch::nn::Embedding make_embedding(const torch::nn::EmbeddingOptions& options);

}  // namespace asdm
