#include "model/winograd.h"

#include <mutex>
#include <unordered_map>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "core/error.h"

namespace asdm {
namespace {

// The transforms of F(2x2, 3x3) (Lavin and Gray, 2015): V = B^T d B for a 4x4 input tile d,
// U = G g G^T for a 3x3 kernel g, Y = A^T (U . V) A for the 2x2 output tile.
void input_tile(const float d[4][4], float v[16]) {
  float t[4][4];
  for (int j = 0; j < 4; ++j) {
    t[0][j] = d[0][j] - d[2][j];
    t[1][j] = d[1][j] + d[2][j];
    t[2][j] = d[2][j] - d[1][j];
    t[3][j] = d[1][j] - d[3][j];
  }
  for (int i = 0; i < 4; ++i) {
    v[i * 4 + 0] = t[i][0] - t[i][2];
    v[i * 4 + 1] = t[i][1] + t[i][2];
    v[i * 4 + 2] = t[i][2] - t[i][1];
    v[i * 4 + 3] = t[i][1] - t[i][3];
  }
}

void kernel_tile(const float* g, float u[16]) {
  float t[4][3];
  for (int j = 0; j < 3; ++j) {
    t[0][j] = g[j];
    t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
    t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
    t[3][j] = g[6 + j];
  }
  for (int i = 0; i < 4; ++i) {
    u[i * 4 + 0] = t[i][0];
    u[i * 4 + 1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
    u[i * 4 + 2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
    u[i * 4 + 3] = t[i][2];
  }
}

void output_tile(const float m[16], float y[2][2]) {
  float t[2][4];
  for (int j = 0; j < 4; ++j) {
    t[0][j] = m[j] + m[4 + j] + m[8 + j];
    t[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
  }
  for (int i = 0; i < 2; ++i) {
    y[i][0] = t[i][0] + t[i][1] + t[i][2];
    y[i][1] = t[i][1] - t[i][2] - t[i][3];
  }
}

// Kernel transforms cached per weight tensor: valid while the tensor lives (a weak reference) and
// its version counter is unchanged (no in-place update since).
struct CacheEntry {
  c10::weak_intrusive_ptr<c10::TensorImpl> weight;
  int64_t version = 0;
  at::Tensor kernels;
};
std::mutex cache_mutex;
std::unordered_map<const c10::TensorImpl*, CacheEntry> cache;

// The cache's budget: ASDM_WINOGRAD_CACHE_MB, default 2048 (set_winograd_cache_budget overrides).
int64_t budget_override = -1;
int64_t cache_budget_bytes() {
  static const int64_t budget = [] {
    const char* v = std::getenv("ASDM_WINOGRAD_CACHE_MB");
    return (v && *v ? std::atoll(v) : 2048LL) << 20;
  }();
  return budget_override >= 0 ? budget_override : budget;
}

}  // namespace

at::Tensor winograd_kernels_cached(const at::Tensor& w) {
  // Inference tensors keep no version counter, so an in-place change could not be seen.
  if (w.is_inference()) return {};
  const c10::TensorImpl* key = w.unsafeGetTensorImpl();
  const int64_t version = int64_t(w._version());
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto it = cache.find(key);
  if (it != cache.end() && !it->second.weight.expired() && it->second.version == version)
    return it->second.kernels;
  int64_t held = 0;
  for (auto e = cache.begin(); e != cache.end();) {
    const bool stale = e->second.weight.expired() || e->first == key;
    if (!stale) held += e->second.kernels.numel() * int64_t(sizeof(float));
    e = stale ? cache.erase(e) : std::next(e);
  }
  if (held + 16 * w.size(0) * w.size(1) * int64_t(sizeof(float)) > cache_budget_bytes()) return {};
  CacheEntry entry{c10::weak_intrusive_ptr<c10::TensorImpl>(w.getIntrusivePtr()), version,
                   winograd_kernels(w)};
  cache.insert_or_assign(key, entry);
  return entry.kernels;
}

at::Tensor winograd_kernels(const at::Tensor& weight) {
  ASDM_CHECK(weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3, "not a 3x3 kernel");
  const at::Tensor w = weight.detach().to(torch::kFloat32).contiguous();
  const int64_t cout = w.size(0), cin = w.size(1);
  at::Tensor u = torch::empty({16, cout, cin}, w.options());
  const float* g = w.data_ptr<float>();
  float* out = u.data_ptr<float>();
  const int64_t plane = cout * cin;
  at::parallel_for(0, plane, 256, [&](int64_t begin, int64_t end) {
    float t[16];
    for (int64_t oc = begin; oc < end; ++oc) {
      kernel_tile(g + oc * 9, t);
      for (int k = 0; k < 16; ++k) out[k * plane + oc] = t[k];
    }
  });
  return u;
}

void set_winograd_cache_budget(int64_t bytes) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  budget_override = bytes;
}

int64_t winograd_cache_bytes() {
  std::lock_guard<std::mutex> lock(cache_mutex);
  int64_t bytes = 0;
  for (const auto& [key, e] : cache)
    if (!e.weight.expired()) bytes += e.kernels.numel() * int64_t(sizeof(float));
  return bytes;
}

at::Tensor conv3x3_winograd(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  at::Tensor kernels = winograd_kernels_cached(weight);
  return conv3x3_winograd(x, weight, bias, kernels.defined() ? kernels : winograd_kernels(weight));
}

at::Tensor conv3x3_winograd(const at::Tensor& x_in, const at::Tensor& weight,
                            const at::Tensor& bias, const at::Tensor& U) {
  ASDM_CHECK(x_in.dim() == 4 && x_in.size(2) % 2 == 0 && x_in.size(3) % 2 == 0 &&
                 x_in.scalar_type() == torch::kFloat32 && !x_in.is_cuda(),
             "Winograd F(2x2, 3x3) takes float32 CPU maps of even size");
  const at::Tensor x = x_in.contiguous();
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t th = H / 2, tw = W / 2, P = B * th * tw;
  const int64_t cout = U.size(1);
  ASDM_CHECK(U.size(2) == C, "weight takes {} channels, the map has {}", U.size(2), C);

  // V [16, C, P]: the input tiles' transforms, tile p = (b * th + i) * tw + j.
  at::Tensor V = torch::empty({16, C, P}, x.options());
  {
    const float* src = x.data_ptr<float>();
    float* dst = V.data_ptr<float>();
    at::parallel_for(0, B * C, 1, [&](int64_t begin, int64_t end) {
      float d[4][4], v[16];
      for (int64_t bc = begin; bc < end; ++bc) {
        const int64_t b = bc / C, c = bc % C;
        const float* plane = src + bc * H * W;
        for (int64_t i = 0; i < th; ++i)
          for (int64_t j = 0; j < tw; ++j) {
            for (int r = 0; r < 4; ++r) {
              const int64_t y = 2 * i - 1 + r;
              for (int s = 0; s < 4; ++s) {
                const int64_t xcol = 2 * j - 1 + s;
                d[r][s] = y >= 0 && y < H && xcol >= 0 && xcol < W ? plane[y * W + xcol] : 0.f;
              }
            }
            input_tile(d, v);
            const int64_t p = (b * th + i) * tw + j;
            for (int k = 0; k < 16; ++k) dst[(k * C + c) * P + p] = v[k];
          }
      }
    });
  }
  const at::Tensor M = at::bmm(U, V);  // [16, cout, P]
  at::Tensor y = torch::empty({B, cout, H, W}, x.options());
  {
    const float* m = M.data_ptr<float>();
    const at::Tensor bias_c = bias.defined() ? bias.to(torch::kFloat32).contiguous() : at::Tensor();
    const float* bv = bias_c.defined() ? bias_c.data_ptr<float>() : nullptr;
    float* out = y.data_ptr<float>();
    at::parallel_for(0, B * cout, 1, [&](int64_t begin, int64_t end) {
      float t[16], o[2][2];
      for (int64_t bo = begin; bo < end; ++bo) {
        const int64_t b = bo / cout, oc = bo % cout;
        const float add = bv ? bv[oc] : 0.f;
        float* plane = out + bo * H * W;
        for (int64_t i = 0; i < th; ++i)
          for (int64_t j = 0; j < tw; ++j) {
            const int64_t p = (b * th + i) * tw + j;
            for (int k = 0; k < 16; ++k) t[k] = m[(k * cout + oc) * P + p];
            output_tile(t, o);
            plane[(2 * i) * W + 2 * j] = o[0][0] + add;
            plane[(2 * i) * W + 2 * j + 1] = o[0][1] + add;
            plane[(2 * i + 1) * W + 2 * j] = o[1][0] + add;
            plane[(2 * i + 1) * W + 2 * j + 1] = o[1][1] + add;
          }
      }
    });
  }
  return y;
}

}  // namespace asdm
