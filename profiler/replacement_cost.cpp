#include "profiler/replacement_cost.h"

#include <chrono>
#include <functional>

#include <torch/torch.h>

#include "core/error.h"
#include "model/arch_spec.h"
#include "model/clme_condconv.h"
#include "model/conv.h"
#include "model/gri_attention.h"

namespace asdm {
namespace {

// `warmup` + `runs` rounds, each timing `work(false)` (the original) then `work(true)` (the
// replacement); the rounds after the warm-up are summarised.
ReplacementCost time_interleaved(const std::string& unit, const std::string& kind, int runs,
                                 int warmup, const std::function<void(bool)>& work) {
  auto once = [&](bool replaced) {
    const auto t0 = std::chrono::steady_clock::now();
    work(replaced);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  std::vector<double> plain, replaced;
  for (int r = 0; r < warmup + runs; ++r) {
    const double p = once(false), q = once(true);
    if (r < warmup) continue;
    plain.push_back(p);
    replaced.push_back(q);
  }
  return {unit, kind, summarize(plain), summarize(replaced)};
}

const UnitCost& unit_cost(const CostReport& cost, const std::string& id) {
  for (const auto& u : cost.units)
    if (u.id == id) return u;
  fail("cost model: no unit '{}'", id);
}

}  // namespace

std::vector<ReplacementCost> time_replacements(const ArchSpec& spec, const InputShape& in, int runs,
                                               int warmup) {
  torch::NoGradGuard no_grad;
  const CostReport cost = estimate_cost(spec.student_layout(), spec.removed_units(), in);
  const int64_t temb = spec.teacher.time_embed_dim(), B = in.batch;
  std::vector<ReplacementCost> out;
  for (const auto& [id, o] : spec.clme_units()) {
    const UnitCost* uc = &unit_cost(cost, id);
    // The convolutions with experts: (input channels, experts).
    struct Conv {
      at::Tensor x, w, b, rw, rb;
      std::vector<at::Tensor> kernels, biases;
    };
    std::vector<Conv> convs;
    for (const auto& [cin, experts] : {std::pair{int64_t(uc->in_channels), o.conv1.size()},
                                       std::pair{int64_t(uc->out_channels), o.conv2.size()}}) {
      if (experts == 0) continue;
      const int64_t cout = uc->out_channels;
      Conv c;
      c.x = torch::randn({B, cin, uc->height, uc->width});
      for (size_t e = 0; e <= experts; ++e) {
        c.kernels.push_back(torch::randn({cout, cin, 3, 3}) * 0.05);
        c.biases.push_back(torch::randn({cout}) * 0.05);
      }
      c.w = c.kernels[0];
      c.b = c.biases[0];
      c.rw = torch::randn({int64_t(experts) + 1, cin + temb}) * 0.01;
      c.rb = torch::zeros({int64_t(experts) + 1});
      convs.push_back(std::move(c));
    }
    const at::Tensor route = torch::randn({B, temb});
    out.push_back(time_interleaved(id, "clme", runs, warmup, [&](bool clme) {
      for (const auto& c : convs)
        (void)(clme ? clme_conv(c.x, route, c.rw, c.rb, c.kernels, c.biases)
                    : conv3x3(c.x, c.w, c.b));
    }));
  }
  const UNetLayout layout = spec.student_layout();
  for (const auto& [id, g] : spec.gri_units()) {
    const UnitCost* uc = &unit_cost(cost, id);
    const UnitInfo& u = layout.at(id);
    const int64_t N = int64_t(uc->height) * uc->width,
                  d = u.head_dim > 0 ? u.head_dim : u.out_channels / u.heads;
    const at::Tensor q = torch::randn({B, u.heads, N, d}), k = torch::randn({B, u.heads, N, d}),
                     v = torch::randn({B, u.heads, N, d});
    const int blocks = std::max(1, u.transformer_layers);
    out.push_back(time_interleaved(id, "gri", runs, warmup, [&](bool gri) {
      for (int b = 0; b < blocks; ++b)
        (void)(gri ? gri_attention(q, k, v, uc->height, uc->width, g)
                   : at::scaled_dot_product_attention(q, k, v));
    }));
  }
  return out;
}

}  // namespace asdm
