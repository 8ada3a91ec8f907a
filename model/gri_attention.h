#pragma once
// Global-regional interactive (GRI) self-attention (DESIGN.md §6): each query of an H x W map
// attends to the keys of its own window (regional) and to average-pooled keys of the whole map
// (global), with the teacher's q/k/v/out projections unchanged. The attention itself, on projected
// tensors; the UNet uses it for attention units with an ArchSpec gri edit.
#include <cstdint>

namespace at {
class Tensor;
}

namespace asdm {

struct GriOptions {
  int window = 8;  // window side in tokens (clamped to the map); must divide H and W
  int pool = 2;    // global tokens: average pools of pool x pool tokens; 0: none
};

// q, k, v: [B, heads, H*W, head_dim], tokens in raster order. Returns [B, heads, H*W, head_dim] in
// raster order. With one window covering the map and no pooling it is full self-attention.
// Throws asdm::Error when the window or the pool does not divide the map.
at::Tensor gri_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                         int64_t height, int64_t width, const GriOptions& options);

// Windows of wh x ww tokens, nh x nw of them; gh x gw pooled global tokens. Throws asdm::Error when
// the window or the pool does not divide the map. Torch-free (model/gri_geometry.cpp).
struct GriGeometry {
  int64_t wh, ww, nh, nw, gh, gw;
};
GriGeometry gri_geometry(int64_t height, int64_t width, const GriOptions& options);

// Keys each query sees: window^2 + (H/pool)(W/pool); full attention sees H*W.
int64_t gri_keys_per_query(int64_t height, int64_t width, const GriOptions& options);

}  // namespace asdm
