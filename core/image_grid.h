#pragma once
// A PNG grid of small RGB images with their captions printed under each (a built-in 3x5 pixel
// font, so no font files are needed), for eyes. Torch-free.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace asdm {

// images: HWC RGB, each side x side. `scale` enlarges each pixel; captions wrap under their image.
void write_grid_png(const std::filesystem::path& path,
                    const std::vector<std::vector<uint8_t>>& images, int side,
                    const std::vector<std::string>& captions, int columns = 8, int scale = 3);

}  // namespace asdm
