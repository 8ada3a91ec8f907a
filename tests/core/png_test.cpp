#include "core/png.h"

#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/artifact.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

TEST(Png, WrittenImagesReadBack) {
  const auto dir = test::scratch_dir("png-roundtrip");
  const std::vector<uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
  write_png(dir / "x.png", rgb.data(), 2, 2);
  int w = 0, h = 0;
  EXPECT_EQ(read_image_rgb(dir / "x.png", &w, &h), rgb);
  EXPECT_EQ(w, 2);
  EXPECT_EQ(h, 2);
}

TEST(Png, OnlyImageFolderFormatsAndSaneSidesAreDecoded) {
  const auto dir = test::scratch_dir("png-refused");
  int w = 0, h = 0;
  // A valid 1x1 GIF under a .png name: stb sniffs the bytes, and its GIF decoder is left out.
  const std::string gif(
      "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00"
      "\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00;",
      35);
  write_file_atomic(dir / "gif.png", gif);
  EXPECT_EQ(
      test::error_of([&] { read_image_rgb(dir / "gif.png", &w, &h); }),
      fmt::format("cannot decode image '{}': unknown image type", (dir / "gif.png").string()));
  // A PNG header claiming 20000 x 20000 pixels (1.2 GB of RGB): refused at the header.
  std::string png = "\x89PNG\r\n\x1a\n";
  png += be32(13) + "IHDR" + be32(20000) + be32(20000) + std::string("\x08\x02\x00\x00\x00", 5) +
         be32(0);
  png += be32(0) + "IEND" + be32(0);
  write_file_atomic(dir / "huge.png", png);
  EXPECT_EQ(test::error_of([&] { read_image_rgb(dir / "huge.png", &w, &h); }),
            fmt::format("cannot decode image '{}': too large", (dir / "huge.png").string()));
}

}  // namespace
}  // namespace asdm
