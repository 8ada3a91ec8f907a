#include "core/image_grid.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"
#include "core/png.h"

namespace asdm {

namespace {

// 3x5 glyphs for a-z, row by row ('#' lit).
const char* glyph(char c) {
  static const char* g[26] = {
      ".#.#.#####.##.#", "##.#.###.#.###.", ".###..#..#...##", "##.#.##.##.###.", "####..##.#..###",
      "####..##.#..#..", ".###..#.##.#.##", "#.##.#####.##.#", "###.#..#..#.###", "..#..#..##.#.#.",
      "#.##.###.#.##.#", "#..#..#..#..###", "#.########.##.#", "##.#.##.##.##.#", ".#.#.##.##.#.#.",
      "##.#.###.#..#..", ".#.#.##.###..##", "##.#.###.#.##.#", ".###...#...###.", "###.#..#..#..#.",
      "#.##.##.##.####", "#.##.##.##.#.#.", "#.##.########.#", "#.##.#.#.#.##.#", "#.##.#.#..#..#.",
      "###..#.#.#..###"};
  if (c >= 'a' && c <= 'z') return g[c - 'a'];
  return nullptr;
}

std::vector<std::string> wrap(const std::string& text, size_t width) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string word, line;
  while (in >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      lines.push_back(line);
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace

void write_grid_png(const std::filesystem::path& path,
                    const std::vector<std::vector<uint8_t>>& images, int side,
                    const std::vector<std::string>& captions, int columns, int scale) {
  if (images.empty()) fail("no images for the grid");
  const int n = static_cast<int>(images.size()), cols = std::min(columns, n),
            rows = (n + cols - 1) / cols;
  const int ts = 1, char_w = 4 * ts, line_h = 6 * ts, pad = 4;
  const int cell_w = side * scale + 2 * pad;
  const size_t chars = std::max(1, (cell_w - 2) / char_w);
  int max_lines = 1;
  for (const auto& c : captions)
    max_lines = std::max<int>(max_lines, static_cast<int>(wrap(c, chars).size()));
  const int cell_h = side * scale + 2 * pad + max_lines * line_h;
  const int W = cols * cell_w, H = rows * cell_h;
  std::vector<uint8_t> px(size_t(W) * H * 3, 32);
  auto put = [&](int x, int y, uint8_t r, uint8_t g, uint8_t b) {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    uint8_t* p = &px[(size_t(y) * W + x) * 3];
    p[0] = r;
    p[1] = g;
    p[2] = b;
  };
  for (int i = 0; i < n; ++i) {
    ASDM_CHECK(images[i].size() == size_t(side) * side * 3, "grid image {} has {} bytes", i,
               images[i].size());
    const int ox = (i % cols) * cell_w + pad, oy = (i / cols) * cell_h + pad;
    for (int y = 0; y < side * scale; ++y)
      for (int x = 0; x < side * scale; ++x) {
        const uint8_t* s = &images[i][(size_t(y / scale) * side + x / scale) * 3];
        put(ox + x, oy + y, s[0], s[1], s[2]);
      }
    if (i >= static_cast<int>(captions.size())) continue;
    const auto lines = wrap(captions[i], chars);
    for (size_t l = 0; l < lines.size(); ++l)
      for (size_t k = 0; k < lines[l].size(); ++k) {
        const char* g =
            glyph(static_cast<char>(std::tolower(static_cast<unsigned char>(lines[l][k]))));
        if (!g) continue;
        for (int gy = 0; gy < 5; ++gy)
          for (int gx = 0; gx < 3; ++gx)
            if (g[gy * 3 + gx] == '#')
              put(ox - pad + 2 + int(k) * char_w + gx, oy + side * scale + 2 + int(l) * line_h + gy,
                  220, 220, 220);
      }
  }
  write_png(path, px.data(), W, H);
}

}  // namespace asdm
