#include "core/log.h"

#include <atomic>
#include <cstdio>

namespace asdm::log {
namespace {
std::atomic<Level> g_level{Level::kInfo};
}

void set_level(Level level) { g_level = level; }
Level level() { return g_level; }

void write(Level level, std::string_view message) {
  const char* tag = level == Level::kWarn ? "warning: " : level == Level::kError ? "error: " : "";
  std::fprintf(stderr, "%s%.*s\n", tag, static_cast<int>(message.size()), message.data());
}

}  // namespace asdm::log
