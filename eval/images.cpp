#include "eval/images.h"

#include <algorithm>
#include <cstring>

#include <fstream>

#include <stb/stb_image.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/png.h"

namespace asdm {

namespace fs = std::filesystem;

std::vector<fs::path> list_images(const fs::path& dir) {
  if (!fs::is_directory(dir)) fail("image folder '{}' is not a folder", dir.string());
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".tga" ||
        ext == ".ppm" || ext == ".pgm")
      files.push_back(e.path());
  }
  if (files.empty()) fail("image folder '{}' holds no images (png, jpg, bmp, ...)", dir.string());
  std::sort(files.begin(), files.end());
  return files;
}

std::pair<int, int> check_same_size(const std::vector<fs::path>& files) {
  ASDM_CHECK(!files.empty(), "no files");
  int w0 = 0, h0 = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    int w = 0, h = 0, c = 0;
    bool ok = false;
    for (size_t limit : {size_t{256} << 10, size_t{0}}) {
      std::ifstream f(files[i], std::ios::binary);
      if (!f) fail("cannot read image '{}'", files[i].string());
      std::string bytes;
      if (limit) {
        bytes.resize(limit);
        f.read(bytes.data(), static_cast<std::streamsize>(limit));
        bytes.resize(static_cast<size_t>(f.gcount()));
      } else {
        bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        if (bytes.size() >= size_t{1} << 31)  // stb takes an int
          fail("image '{}' is 2 GiB or more", files[i].string());
      }
      ok = stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                                 static_cast<int>(bytes.size()), &w, &h, &c) != 0;
      if (ok || bytes.size() < limit) break;
    }
    if (!ok) fail("cannot decode image '{}': {}", files[i].string(), stbi_failure_reason());
    if (i == 0) {
      w0 = w, h0 = h;
    } else if (w != w0 || h != h0) {
      fail(
          "'{}' is {}x{} but '{}' is {}x{}: an image set must be of one size (resize or crop "
          "it first, e.g. COCO images to 256x256 centre crops)",
          files[i].string(), w, h, files[0].string(), w0, h0);
    }
  }
  return {w0, h0};
}

at::Tensor to_uint8_images(const at::Tensor& images) {
  if (images.dim() != 4 || images.size(1) != 3)
    fail("images must be [batch, 3, height, width], got {} dimensions", images.dim());
  return (images.to(torch::kFloat32).cpu().clamp(0, 1) * 255)
      .round()
      .to(torch::kUInt8)
      .contiguous();
}

at::Tensor read_images(const std::vector<fs::path>& files) {
  ASDM_CHECK(!files.empty(), "no files");
  at::Tensor out;
  int w0 = 0, h0 = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    int w = 0, h = 0;
    const auto rgb = read_image_rgb(files[i], &w, &h);
    if (i == 0) {
      w0 = w, h0 = h;
      out = torch::empty({static_cast<int64_t>(files.size()), h, w, 3}, torch::kUInt8);
    } else if (w != w0 || h != h0) {
      fail(
          "'{}' is {}x{} but '{}' is {}x{}: an image set must be of one size (resize or crop "
          "it first, e.g. COCO images to 256x256 centre crops)",
          files[i].string(), w, h, files[0].string(), w0, h0);
    }
    std::memcpy(out[static_cast<int64_t>(i)].data_ptr<uint8_t>(), rgb.data(), rgb.size());
  }
  return out.permute({0, 3, 1, 2}).contiguous();
}

}  // namespace asdm
