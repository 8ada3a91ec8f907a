#pragma once
// Errors. `asdm::Error` is the user's: bad input, named with the offending value and what would
// be valid; the CLI prints its message on one line and exits non-zero. ASDM_CHECK guards the
// programmer's invariants and throws `asdm::InternalError`, which says "internal error".
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace asdm {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// The one throw helper for user errors: fail("unit '{}' not found", id).
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

[[noreturn]] void internal_failure(const char* condition, const char* file, int line,
                                   const std::string& message);

// Joins up to `max_items` strings as "a, b, c … (N more)" for "known: …" messages.
std::string join_limited(const std::vector<std::string>& items, size_t max_items = 12);

}  // namespace asdm

#define ASDM_CHECK(cond, ...)                                                                   \
  do {                                                                                          \
    if (!(cond)) ::asdm::internal_failure(#cond, __FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
  } while (0)
