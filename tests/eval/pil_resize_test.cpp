#include "eval/pil_resize.h"

#include <gtest/gtest.h>

namespace asdm {
namespace {

// Reference values from Pillow 13 (Image.fromarray(..., mode="F" / RGB).resize(..., BICUBIC)).
TEST(PilResize, FloatBicubicMatchesPillow) {
  std::vector<float> a(12);
  for (int i = 0; i < 12; ++i) a[i] = 10.0f * i;
  const auto down = pil_resize_float(a.data(), 4, 3, 2, 2, PilFilter::kBicubic);
  const std::vector<float> want = {18.259422302246094f, 36.52388381958008f, 73.47611236572266f,
                                   91.7405776977539f};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(down[i], want[i], 1e-5) << i;
  const auto up = pil_resize_float(a.data(), 4, 3, 7, 5, PilFilter::kBicubic);
  const std::vector<float> row = {-3.8121371269226074f, -0.3801441788673401f, 6.2212700843811035f,
                                  11.981132507324219f,  17.74099349975586f,   24.342409133911133f};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(up[i], row[i], 1e-5) << i;
  EXPECT_EQ(pil_resize_float(a.data(), 4, 3, 4, 3, PilFilter::kBicubic), a);
}

TEST(PilResize, EightBitBicubicMatchesPillowExactly) {
  std::vector<uint8_t> rgb(4 * 6 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 3 % 256);
  const std::vector<uint8_t> want = {3,   6,   9,   21,  24,  27,  38,  41,  44,  40,  43,  46,
                                     58,  61,  64,  75,  78,  81,  86,  89,  92,  104, 107, 110,
                                     121, 124, 127, 132, 135, 138, 150, 153, 156, 167, 170, 173,
                                     169, 172, 175, 187, 190, 193, 204, 207, 210};
  EXPECT_EQ(pil_resize_rgb8(rgb.data(), 6, 4, 3, 5, PilFilter::kBicubic), want);
}

}  // namespace
}  // namespace asdm
