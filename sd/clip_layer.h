#pragma once
// One pre-LayerNorm CLIP encoder layer, transformers' CLIPEncoderLayer key for key
// (self_attn.{q,k,v,out}_proj, layer_norm1, mlp.fc1, mlp.fc2, layer_norm2): causal self-attention
// in the text tower (sd/clip_text.cpp), full in the vision tower (eval/clip_scorer.cpp).
// Internal: it includes <torch/torch.h>, so .cpp files only.
#include <torch/torch.h>

#include "model/module_init.h"

namespace asdm {

struct ClipEncoderLayer : torch::nn::Module {
  torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, out{nullptr}, fc1{nullptr}, fc2{nullptr};
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  int heads;
  bool quick_gelu, causal;

  ClipEncoderLayer(int hidden, int heads_, int intermediate, bool quick_gelu_, double eps,
                   bool causal_)
      : heads(heads_), quick_gelu(quick_gelu_), causal(causal_) {
    namespace nn = torch::nn;
    auto attn = register_module("self_attn", std::make_shared<nn::Module>());
    q = attn->register_module("q_proj", make_linear(nn::LinearOptions(hidden, hidden)));
    k = attn->register_module("k_proj", make_linear(nn::LinearOptions(hidden, hidden)));
    v = attn->register_module("v_proj", make_linear(nn::LinearOptions(hidden, hidden)));
    out = attn->register_module("out_proj", make_linear(nn::LinearOptions(hidden, hidden)));
    ln1 = register_module("layer_norm1", nn::LayerNorm(nn::LayerNormOptions({hidden}).eps(eps)));
    auto mlp = register_module("mlp", std::make_shared<nn::Module>());
    fc1 = mlp->register_module("fc1", make_linear(nn::LinearOptions(hidden, intermediate)));
    fc2 = mlp->register_module("fc2", make_linear(nn::LinearOptions(intermediate, hidden)));
    ln2 = register_module("layer_norm2", nn::LayerNorm(nn::LayerNormOptions({hidden}).eps(eps)));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    const int64_t B = x.size(0), T = x.size(1), D = x.size(2), dh = D / heads;
    torch::Tensor h = ln1->forward(x);
    auto split = [&](const torch::Tensor& t) { return t.view({B, T, heads, dh}).transpose(1, 2); };
    const torch::Tensor a = at::scaled_dot_product_attention(
        split(q->forward(h)), split(k->forward(h)), split(v->forward(h)), {}, 0.0, causal);
    const torch::Tensor y = x + out->forward(a.transpose(1, 2).reshape({B, T, D}));
    h = fc1->forward(ln2->forward(y));
    h = quick_gelu ? h * torch::sigmoid(1.702 * h) : torch::gelu(h);
    return y + fc2->forward(h);
  }
};

}  // namespace asdm
