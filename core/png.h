#pragma once
// PNG encoding of 8-bit RGB pixels (stb_image_write), for sample grids and generated images, and
// image decoding (stb_image: PNG, JPEG, BMP, TGA, PPM/PGM; sides up to 16384) for training sets
// and image folders.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace asdm {

// rgb: height rows of width * 3 bytes. Throws asdm::Error when encoding fails.
std::string encode_png(const uint8_t* rgb, int width, int height);
// encode_png, written atomically (temp file, then rename).
void write_png(const std::filesystem::path& path, const uint8_t* rgb, int width, int height);

// An image file as 8-bit RGB rows (alpha dropped, grey expanded). Throws asdm::Error naming the
// file and stb_image's reason when it cannot be decoded.
std::vector<uint8_t> read_image_rgb(const std::filesystem::path& path, int* width, int* height);

}  // namespace asdm
