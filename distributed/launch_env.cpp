#include "distributed/launch_env.h"

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "core/error.h"

namespace asdm::dist {
namespace {

const char* var(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

int integer(const char* name, const char* value, long lo, long hi) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || v < lo || v > hi)
    fail("{}='{}' is not an integer in [{}, {}]", name, value, lo, hi);
  return int(v);
}

}  // namespace

std::string LaunchEnv::describe() const {
  return distributed() ? fmt::format("rank {} of {}", rank, world) : std::string();
}

std::string LaunchEnv::local_device(const std::string& device) const {
  if (distributed() && device == "cuda") return fmt::format("cuda:{}", local_rank);
  return device;
}

LaunchEnv LaunchEnv::from_environment() {
  LaunchEnv e;
  const char* world = var("WORLD_SIZE");
  const char* rank = var("RANK");
  if (!world && !rank) return e;
  if (!world) fail("RANK is set ({}) but WORLD_SIZE is not; launch with torchrun", rank);
  e.world = integer("WORLD_SIZE", world, 1, 1 << 20);
  if (!rank) fail("WORLD_SIZE is set ({}) but RANK is not; launch with torchrun", world);
  e.rank = integer("RANK", rank, 0, e.world - 1);
  if (const char* l = var("LOCAL_RANK")) e.local_rank = integer("LOCAL_RANK", l, 0, 1 << 20);
  const char* addr = var("MASTER_ADDR");
  if (e.world == 1 && !(addr && var("MASTER_PORT"))) return e;  // one process, no group
  if (!addr)
    fail(
        "WORLD_SIZE={} but MASTER_ADDR is not set: the ranks cannot meet (torchrun sets it; or "
        "export MASTER_ADDR and MASTER_PORT)",
        e.world);
  e.master_addr = addr;
  const char* port = var("MASTER_PORT");
  if (!port)
    fail("WORLD_SIZE={} but MASTER_PORT is not set: the ranks cannot meet (torchrun sets it)",
         e.world);
  e.master_port = integer("MASTER_PORT", port, 1, 65535);
  e.launched = true;
  return e;
}

}  // namespace asdm::dist
