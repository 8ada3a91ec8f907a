#include "model/module_init.h"

#include <mutex>

#include <torch/torch.h>

namespace asdm {
namespace {

thread_local bool skipping = false;

// The placeholders' shapes are the smallest libtorch accepts; their draws are undone when the
// outermost guard ends. The parameter keeps its identity (the module's registered tensor), only
// its storage and shape change, as Python's `param.data = ...` does.
void resize_uninitialised(at::Tensor& param, at::IntArrayRef shape) {
  torch::NoGradGuard no_grad;
  param.set_data(torch::empty(shape, param.options()));
}

}  // namespace

SkipInitGuard::SkipInitGuard(bool active) : active_(active), previous_(skipping) {
  if (!active_ || previous_) return;  // the outermost guard keeps the generator's state
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  generator_state_ = gen.get_state();
  skipping = true;
}

SkipInitGuard::~SkipInitGuard() {
  if (!active_ || previous_) return;
  skipping = false;
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(generator_state_);
}

bool init_skipped() { return skipping; }

torch::nn::Linear make_linear(const torch::nn::LinearOptions& options) {
  if (!skipping) return torch::nn::Linear(options);
  torch::nn::Linear m(torch::nn::LinearOptions(1, 1).bias(options.bias()));
  resize_uninitialised(m->weight, {options.out_features(), options.in_features()});
  if (options.bias()) resize_uninitialised(m->bias, {options.out_features()});
  m->options = options;
  return m;
}

torch::nn::Conv2d make_conv2d(const torch::nn::Conv2dOptions& options) {
  if (!skipping) return torch::nn::Conv2d(options);
  const int64_t groups = options.groups();
  torch::nn::Conv2dOptions small = options;
  small.in_channels(groups).out_channels(groups);
  torch::nn::Conv2d m(small);
  const auto k = *options.kernel_size();
  resize_uninitialised(m->weight,
                       {options.out_channels(), options.in_channels() / groups, k[0], k[1]});
  if (options.bias()) resize_uninitialised(m->bias, {options.out_channels()});
  m->options.in_channels(options.in_channels()).out_channels(options.out_channels());
  return m;
}

torch::nn::Embedding make_embedding(const torch::nn::EmbeddingOptions& options) {
  if (!skipping) return torch::nn::Embedding(options);
  torch::nn::EmbeddingOptions small = options;
  small.num_embeddings(1);
  small.embedding_dim(1);
  if (small.padding_idx()) small.padding_idx(0);
  torch::nn::Embedding m(small);
  resize_uninitialised(m->weight, {options.num_embeddings(), options.embedding_dim()});
  m->options = options;
  return m;
}

}  // namespace asdm
