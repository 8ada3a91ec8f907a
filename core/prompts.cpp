#include "core/prompts.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace asdm {

std::vector<std::string> read_prompts(const std::string& path) {
  if (std::filesystem::is_directory(path)) fail("prompts file {} is a folder", path);
  std::ifstream in(path);
  if (!in) fail("cannot read prompts file {}", path);
  std::vector<std::string> out;
  std::string line;
  for (bool first = true; std::getline(in, line); first = false) {
    // A UTF-8 byte-order mark (Windows editors write one) would be the first prompt's first
    // character, and change its tokens.
    if (first && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  if (out.empty()) fail("prompts file {} has no prompts", path);
  return out;
}

}  // namespace asdm
