#include "core/png.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
// The formats image folders hold (eval/images.cpp lists these extensions) and no others: stb
// sniffs the bytes, so without this a .png holding a PSD, PIC, HDR or GIF stream would run that
// decoder, the least used and least tested ones. Sides over 16384 (stb's default is 2^24) are
// refused before their pixels are allocated: a damaged header cannot ask for gigabytes.
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_ONLY_PNM
#define STBI_MAX_DIMENSIONS (1 << 14)
#include <stb/stb_image.h>

#include "core/artifact.h"
#include "core/error.h"

namespace asdm {

std::string encode_png(const uint8_t* rgb, int width, int height) {
  std::string png;
  if (width <= 0 || height <= 0) fail("cannot encode a {}x{} image as PNG", width, height);
  stbi_write_png_to_func(
      [](void* ctx, void* data, int size) {
        static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size);
      },
      &png, width, height, 3, rgb, width * 3);
  if (png.empty()) fail("could not encode a {}x{} image as PNG", width, height);
  return png;
}

void write_png(const std::filesystem::path& path, const uint8_t* rgb, int width, int height) {
  write_file_atomic(path, encode_png(rgb, width, height));
}

std::vector<uint8_t> read_image_rgb(const std::filesystem::path& path, int* width, int* height) {
  const std::string bytes = read_text_file(path);
  if (bytes.size() >= size_t{1} << 31) fail("image '{}' is 2 GiB or more", path.string());
  int w = 0, h = 0, channels = 0;
  stbi_uc* px = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                      int(bytes.size()), &w, &h, &channels, 3);
  if (!px) fail("cannot decode image '{}': {}", path.string(), stbi_failure_reason());
  std::vector<uint8_t> rgb(px, px + size_t(w) * h * 3);
  stbi_image_free(px);
  *width = w;
  *height = h;
  return rgb;
}

}  // namespace asdm
