#include "core/error.h"

#include <vector>

namespace asdm {

void internal_failure(const char* condition, const char* file, int line,
                      const std::string& message) {
  throw InternalError(
      fmt::format("internal error: {} ({}:{}: check `{}` failed)", message, file, line, condition));
}

std::string join_limited(const std::vector<std::string>& items, size_t max_items) {
  std::string out;
  const size_t n = std::min(items.size(), max_items);
  for (size_t i = 0; i < n; ++i) {
    if (i) out += ", ";
    out += items[i];
  }
  if (items.size() > n) out += fmt::format(" … ({} more)", items.size() - n);
  return out;
}

}  // namespace asdm
