#include "core/prompts.h"

#include <fstream>

#include "core/error.h"

namespace asdm {

std::vector<std::string> read_prompts(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("cannot read prompts file {}", path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  if (out.empty()) fail("prompts file {} has no prompts", path);
  return out;
}

}  // namespace asdm
