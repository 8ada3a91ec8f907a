#pragma once
// Image sets for the metrics: a folder's image files in name order, read as one [N, 3, H, W] uint8
// batch (PNG, JPEG, BMP, ... through stb_image; JPEG decoders differ by a level here and there,
// so FID of JPEGs matches pytorch-fid's PIL to about 1e-3, PNG exactly).
#include <filesystem>
#include <utility>
#include <vector>

namespace at {
class Tensor;
}

namespace asdm {

// Image files directly in `dir` (png, jpg, jpeg, bmp, tga, ppm, pgm), sorted by name. asdm::Error
// when `dir` is not a folder or holds none.
std::vector<std::filesystem::path> list_images(const std::filesystem::path& dir);

// All of one size: asdm::Error naming the first file whose size differs from the first file's,
// or the file that cannot be decoded.
at::Tensor read_images(const std::vector<std::filesystem::path>& files);

// Images [B, 3, H, W] in [0, 1] (a pipeline's output) as the uint8 [B, 3, H, W] their PNGs would
// hold (sd/sd_pipeline.h's to_rgb8 rounding), on the CPU: what the metrics take.
at::Tensor to_uint8_images(const at::Tensor& images);

// The same check from the files' headers only (the first 256 KiB of each, the whole file when its
// size is further in), before any work. Returns the common (width, height).
std::pair<int, int> check_same_size(const std::vector<std::filesystem::path>& files);

}  // namespace asdm
