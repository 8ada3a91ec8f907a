// GRI attention's window geometry and key count: torch-free, so the cost model can use them.
#include <algorithm>

#include "core/error.h"
#include "model/gri_attention.h"

namespace asdm {

GriGeometry gri_geometry(int64_t H, int64_t W, const GriOptions& o) {
  if (o.window < 1) fail("GRI window must be at least 1 (got {})", o.window);
  if (o.pool < 0) fail("GRI pool must be >= 0 (got {})", o.pool);
  GriGeometry g;
  g.wh = std::min<int64_t>(o.window, H);
  g.ww = std::min<int64_t>(o.window, W);
  if (H % g.wh || W % g.ww) fail("GRI window {} does not divide the {}x{} map", o.window, H, W);
  if (o.pool > 0 && (H % o.pool || W % o.pool))
    fail("GRI pool {} does not divide the {}x{} map", o.pool, H, W);
  g.nh = H / g.wh;
  g.nw = W / g.ww;
  g.gh = o.pool > 0 ? H / o.pool : 0;
  g.gw = o.pool > 0 ? W / o.pool : 0;
  return g;
}

int64_t gri_keys_per_query(int64_t H, int64_t W, const GriOptions& o) {
  const GriGeometry g = gri_geometry(H, W, o);
  return g.wh * g.ww + g.gh * g.gw;
}

}  // namespace asdm
