#include "model/gri_attention.h"

#include <torch/torch.h>

#include "core/error.h"

namespace asdm {

at::Tensor gri_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t H,
                         int64_t W, const GriOptions& o) {
  ASDM_CHECK(q.dim() == 4 && q.size(2) == H * W,
             "gri_attention takes [B, heads, H*W, d] for a {}x{} map", H, W);
  const GriGeometry g = gri_geometry(H, W, o);
  const int64_t B = q.size(0), h = q.size(1), d = q.size(3);
  // [B, h, H*W, d] -> [B, h, windows, wh*ww, d]
  auto to_windows = [&](const at::Tensor& t) {
    return t.reshape({B, h, g.nh, g.wh, g.nw, g.ww, d})
        .permute({0, 1, 2, 4, 3, 5, 6})
        .reshape({B, h, g.nh * g.nw, g.wh * g.ww, d});
  };
  at::Tensor kw = to_windows(k), vw = to_windows(v);
  if (o.pool > 0) {
    // Pooled keys and values of the whole map, shared by every window.
    auto pooled = [&](const at::Tensor& t) {
      at::Tensor m = t.transpose(2, 3).reshape({B * h, d, H, W});
      m = torch::avg_pool2d(m, o.pool, o.pool).reshape({B, h, d, g.gh * g.gw}).transpose(2, 3);
      return m.unsqueeze(2).expand({B, h, g.nh * g.nw, g.gh * g.gw, d});
    };
    kw = torch::cat({kw, pooled(k)}, 3);
    vw = torch::cat({vw, pooled(v)}, 3);
  }
  const at::Tensor qw = to_windows(q);
  const int64_t n = g.nh * g.nw;
  at::Tensor out = at::scaled_dot_product_attention(qw.reshape({B, h * n, g.wh * g.ww, d}),
                                                    kw.reshape({B, h * n, kw.size(3), d}),
                                                    vw.reshape({B, h * n, vw.size(3), d}));
  return out.reshape({B, h, g.nh, g.nw, g.wh, g.ww, d})
      .permute({0, 1, 2, 4, 3, 5, 6})
      .reshape({B, h, H * W, d});
}

}  // namespace asdm
