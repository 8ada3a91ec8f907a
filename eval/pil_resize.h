#pragma once
// Pillow's Image.resize, reproduced (torch-free), for the preprocessing the reference metric
// packages do through PIL: clean-fid resizes each channel as a float ("F") image with BICUBIC,
// OpenCLIP resizes 8-bit RGB with BICUBIC. Pillow's algorithm: separable, horizontal pass then
// vertical, a filter support widened by the downscale factor (antialiasing), normalised double
// weights; 8-bit images use 22-bit fixed-point weights and round to 8 bits after each pass.
#include <cstdint>
#include <vector>

namespace asdm {

enum class PilFilter { kBilinear, kBicubic };

// One float channel, `h` rows of `w`. Returns out_h rows of out_w (float32, as Pillow stores "F").
std::vector<float> pil_resize_float(const float* in, int w, int h, int out_w, int out_h,
                                    PilFilter filter);
// Interleaved 8-bit RGB.
std::vector<uint8_t> pil_resize_rgb8(const uint8_t* rgb, int w, int h, int out_w, int out_h,
                                     PilFilter filter);

}  // namespace asdm
