#include "core/png.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>

#include "core/artifact.h"
#include "core/error.h"

namespace asdm {

std::string encode_png(const uint8_t* rgb, int width, int height) {
  std::string png;
  if (width <= 0 || height <= 0) fail("cannot encode a {}x{} image as PNG", width, height);
  stbi_write_png_to_func(
      [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); },
      &png, width, height, 3, rgb, width * 3);
  if (png.empty()) fail("could not encode a {}x{} image as PNG", width, height);
  return png;
}

void write_png(const std::filesystem::path& path, const uint8_t* rgb, int width, int height) {
  write_file_atomic(path, encode_png(rgb, width, height));
}

}  // namespace asdm
