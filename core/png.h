#pragma once
// PNG encoding of 8-bit RGB pixels (stb_image_write), for sample grids and generated images.
#include <cstdint>
#include <filesystem>
#include <string>

namespace asdm {

// rgb: height rows of width * 3 bytes. Throws asdm::Error when encoding fails.
std::string encode_png(const uint8_t* rgb, int width, int height);
// encode_png, written atomically (temp file, then rename).
void write_png(const std::filesystem::path& path, const uint8_t* rgb, int width, int height);

}  // namespace asdm
