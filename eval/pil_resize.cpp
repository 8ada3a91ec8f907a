#include "eval/pil_resize.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace asdm {
namespace {

double bilinear(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubic(double x) {  // Keys' cubic with a = -0.5, as Pillow
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;  // per output: xmin, count
  std::vector<double> k;    // per output: ksize weights
};

// Pillow's precompute_coeffs for the whole input range.
Coeffs precompute(int in_size, int out_size, PilFilter filter) {
  const double support0 = filter == PilFilter::kBicubic ? 2.0 : 1.0;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = support0 * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(out_size * 2);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0.0);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double* k = &c.k[static_cast<size_t>(xx) * c.ksize];
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double t = (x + xmin - center + 0.5) * ss;
      k[x] = filter == PilFilter::kBicubic ? bicubic(t) : bilinear(t);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x)
      if (ww != 0.0) k[x] /= ww;
    c.bounds[xx * 2] = xmin;
    c.bounds[xx * 2 + 1] = xmax;
  }
  return c;
}

void check_sizes(int w, int h, int out_w, int out_h) {
  if (w <= 0 || h <= 0 || out_w <= 0 || out_h <= 0)
    fail("cannot resize a {}x{} image to {}x{}", w, h, out_w, out_h);
}

}  // namespace

std::vector<float> pil_resize_float(const float* in, int w, int h, int out_w, int out_h,
                                    PilFilter filter) {
  check_sizes(w, h, out_w, out_h);
  std::vector<float> cur(in, in + static_cast<size_t>(w) * h);
  int cw = w, ch = h;
  if (out_w != w) {  // horizontal pass
    const Coeffs c = precompute(w, out_w, filter);
    std::vector<float> next(static_cast<size_t>(out_w) * ch);
    for (int y = 0; y < ch; ++y)
      for (int xx = 0; xx < out_w; ++xx) {
        const int xmin = c.bounds[xx * 2], n = c.bounds[xx * 2 + 1];
        const double* k = &c.k[static_cast<size_t>(xx) * c.ksize];
        double ss = 0.0;
        for (int x = 0; x < n; ++x) ss += cur[static_cast<size_t>(y) * cw + xmin + x] * k[x];
        next[static_cast<size_t>(y) * out_w + xx] = static_cast<float>(ss);
      }
    cur = std::move(next);
    cw = out_w;
  }
  if (out_h != h) {  // vertical pass
    const Coeffs c = precompute(h, out_h, filter);
    std::vector<float> next(static_cast<size_t>(cw) * out_h);
    for (int yy = 0; yy < out_h; ++yy) {
      const int ymin = c.bounds[yy * 2], n = c.bounds[yy * 2 + 1];
      const double* k = &c.k[static_cast<size_t>(yy) * c.ksize];
      for (int x = 0; x < cw; ++x) {
        double ss = 0.0;
        for (int y = 0; y < n; ++y) ss += cur[static_cast<size_t>(ymin + y) * cw + x] * k[y];
        next[static_cast<size_t>(yy) * cw + x] = static_cast<float>(ss);
      }
    }
    cur = std::move(next);
  }
  return cur;
}

std::vector<uint8_t> pil_resize_rgb8(const uint8_t* rgb, int w, int h, int out_w, int out_h,
                                     PilFilter filter) {
  check_sizes(w, h, out_w, out_h);
  constexpr int kBits = 22;  // Pillow's PRECISION_BITS = 32 - 8 - 2
  auto fixed = [](const Coeffs& c) {
    std::vector<int32_t> k(c.k.size());
    for (size_t i = 0; i < k.size(); ++i)
      k[i] = static_cast<int32_t>(c.k[i] < 0 ? -0.5 + c.k[i] * (1 << kBits)
                                             : 0.5 + c.k[i] * (1 << kBits));
    return k;
  };
  auto clip8 = [](int32_t v) -> uint8_t {
    if (v < 0) return 0;
    if (v >= (1 << (kBits + 8))) return 255;
    return static_cast<uint8_t>(v >> kBits);
  };
  std::vector<uint8_t> cur(rgb, rgb + static_cast<size_t>(w) * h * 3);
  int cw = w, ch = h;
  if (out_w != w) {
    const Coeffs c = precompute(w, out_w, filter);
    const auto k32 = fixed(c);
    std::vector<uint8_t> next(static_cast<size_t>(out_w) * ch * 3);
    for (int y = 0; y < ch; ++y)
      for (int xx = 0; xx < out_w; ++xx) {
        const int xmin = c.bounds[xx * 2], n = c.bounds[xx * 2 + 1];
        const int32_t* k = &k32[static_cast<size_t>(xx) * c.ksize];
        for (int ch3 = 0; ch3 < 3; ++ch3) {
          int32_t ss = 1 << (kBits - 1);
          for (int x = 0; x < n; ++x)
            ss += cur[(static_cast<size_t>(y) * cw + xmin + x) * 3 + ch3] * k[x];
          next[(static_cast<size_t>(y) * out_w + xx) * 3 + ch3] = clip8(ss);
        }
      }
    cur = std::move(next);
    cw = out_w;
  }
  if (out_h != h) {
    const Coeffs c = precompute(h, out_h, filter);
    const auto k32 = fixed(c);
    std::vector<uint8_t> next(static_cast<size_t>(cw) * out_h * 3);
    for (int yy = 0; yy < out_h; ++yy) {
      const int ymin = c.bounds[yy * 2], n = c.bounds[yy * 2 + 1];
      const int32_t* k = &k32[static_cast<size_t>(yy) * c.ksize];
      for (int x = 0; x < cw; ++x)
        for (int ch3 = 0; ch3 < 3; ++ch3) {
          int32_t ss = 1 << (kBits - 1);
          for (int y = 0; y < n; ++y)
            ss += cur[(static_cast<size_t>(ymin + y) * cw + x) * 3 + ch3] * k[y];
          next[(static_cast<size_t>(yy) * cw + x) * 3 + ch3] = clip8(ss);
        }
    }
    cur = std::move(next);
  }
  return cur;
}

}  // namespace asdm
