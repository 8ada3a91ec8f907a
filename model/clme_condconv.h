#pragma once
// Cross-layer multi-expert conditional convolution (CLME-CondConv, DESIGN.md §6). In a surviving
// ResBlock, conv1/conv2 become conditional convolutions whose experts are the surviving kernel and
// the same-shaped kernels of removed sibling ResBlocks of the same block. Per sample,
//   a = sigmoid(W · [GAP(x), silu(temb)] + b)          (one weight per expert)
//   kernel = 2·a_0·K_0 + Σ_{i≥1} (2·a_i − 1)·K_i         (K_0: the surviving kernel)
// applied per sample through one grouped convolution (biases mix the same way). The router starts
// at W = 0, b = 0, so every a_i is exactly 1/2: the kernel is exactly K_0 and the block computes
// the teacher's surviving block, while the removed blocks' kernels stay in the model, each with a
// coefficient in (−1, 1) that training can open. Light header: libtorch types forward-declared.
#include <cstdint>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace asdm {

// The experts of one CLME ResBlock: removed sibling ResBlocks (unit ids) whose conv1 / conv2 have
// the surviving block's kernel shape. Each list is in the order of the edit's experts.
struct ClmeOptions {
  std::vector<std::string> conv1, conv2;
  bool operator==(const ClmeOptions&) const = default;
};

// x [B, Cin, H, W] (the convolution's input); route [B, T] (the activated time embedding);
// router_weight [E, Cin + T], router_bias [E]; kernels E tensors [Cout, Cin, k, k] (kernel 0 the
// surviving one), biases E tensors [Cout]. 3x3, stride 1, padding 1. Returns [B, Cout, H, W].
at::Tensor clme_conv(const at::Tensor& x, const at::Tensor& route, const at::Tensor& router_weight,
                     const at::Tensor& router_bias, const std::vector<at::Tensor>& kernels,
                     const std::vector<at::Tensor>& biases);

// The per-sample expert coefficients [B, E] for router logits [B, E]: 2·σ for expert 0,
// 2·σ − 1 for the others (exactly 1 and 0 at zero logits).
at::Tensor clme_coefficients(const at::Tensor& logits);

}  // namespace asdm
