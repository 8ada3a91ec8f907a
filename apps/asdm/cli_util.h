#pragma once
// Small helpers shared by the subcommands' progress lines.
#include <string>

#include <fmt/format.h>

namespace asdm::cli {

// Seconds as "m:ss" or "h:mm:ss".
inline std::string hms(double s) {
  const int t = static_cast<int>(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60) : fmt::format("{}:{:02}", t / 60, t % 60);
}

}  // namespace asdm::cli
