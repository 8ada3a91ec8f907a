#include "model/clme_condconv.h"

#include <torch/torch.h>

#include "core/error.h"
#include "model/conv.h"

namespace asdm {

at::Tensor clme_coefficients(const at::Tensor& logits) {
  at::Tensor c = 2 * torch::sigmoid(logits) - 1;
  // Expert 0 (the surviving kernel) gets 2σ: add the 1 back in its column.
  at::Tensor one = torch::zeros({logits.size(-1)}, logits.options());
  one[0] = 1;
  return c + one;
}

at::Tensor clme_conv(const at::Tensor& x, const at::Tensor& route, const at::Tensor& router_weight,
                     const at::Tensor& router_bias, const std::vector<at::Tensor>& kernels,
                     const std::vector<at::Tensor>& biases) {
  ASDM_CHECK(!kernels.empty() && kernels.size() == biases.size(),
             "CLME conv needs one bias per kernel");
  const int64_t E = static_cast<int64_t>(kernels.size());
  const int64_t B = x.size(0), cin = x.size(1);
  const at::Tensor& k0 = kernels[0];
  const int64_t cout = k0.size(0), k = k0.size(2);
  if (k != 3 || k0.size(3) != 3) fail("CLME conv: only 3x3 kernels (got {}x{})", k, k0.size(3));
  if (k0.size(1) != cin)
    fail("CLME conv: input has {} channels, kernels expect {}", cin, k0.size(1));
  if (router_weight.size(0) != E || router_weight.size(1) != cin + route.size(1))
    fail("CLME conv: router weight [{}, {}] does not match {} experts and {} + {} routing inputs",
         router_weight.size(0), router_weight.size(1), E, cin, route.size(1));
  const at::Tensor z =
      torch::cat({x.mean({2, 3}), route.to(x.scalar_type()).expand({B, route.size(1)})}, 1);
  const at::Tensor c =
      clme_coefficients(torch::nn::functional::linear(z, router_weight, router_bias));  // [B, E]
  const at::Tensor K = torch::stack(kernels).reshape({E, -1});  // [E, Cout*Cin*k*k]
  return conv3x3_per_sample(x, c.matmul(K).view({B, cout, cin, k, k}),
                            c.matmul(torch::stack(biases)));
}

}  // namespace asdm
