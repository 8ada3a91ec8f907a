#pragma once
// Paths the tests get from CTest's environment (tests/CMakeLists.txt).
#include <cstdlib>
#include <filesystem>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/artifact.h"
#include "core/error.h"
#include "tests/test_paths.h"

namespace asdm::test {

// The environment variable `name` when set, else the path configured at build time.
inline std::filesystem::path env_path(const char* name, const char* configured) {
  const char* v = std::getenv(name);
  return std::filesystem::path(v && *v ? v : configured);
}
inline std::filesystem::path source_dir() {
  return env_path("ASDM_SOURCE_DIR", configured_paths().source_dir);
}
inline std::filesystem::path binary_dir() {
  return env_path("ASDM_BINARY_DIR", configured_paths().binary_dir);
}
inline std::filesystem::path shared_dir() {
  return env_path("ASDM_SHARED_DIR", configured_paths().shared_dir);
}
inline std::filesystem::path python() { return env_path("ASDM_PYTHON", configured_paths().python); }
inline std::filesystem::path asdm_exe() {
  return env_path("ASDM_EXE", configured_paths().asdm_exe);
}
inline std::filesystem::path fixture_dir() {
  return shared_dir() / "fixtures" / "diffusers" / "unet_tiny";
}
inline std::filesystem::path config_path(const std::string& name) {
  return source_dir() / "configs" / (name + ".json");
}

// A run context for artifacts made in tests (the other fields empty).
inline RunContext run_context(std::vector<std::string> argv = {}, std::string device_name = "") {
  RunContext c;
  c.argv = std::move(argv);
  c.device_name = std::move(device_name);
  return c;
}

// A fresh folder under the build tree for one test.
inline std::filesystem::path scratch_dir(const std::string& name) {
  auto d = binary_dir() / "test-scratch" / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// How many regular files lie directly in `dir` (a write that failed must leave no temporary).
inline int regular_files(const std::filesystem::path& dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

// Runs `fn` and returns the asdm::Error message it throws ("" when it does not throw).
// Any other exception (a c10::Error, nlohmann's, std::out_of_range) is what a user must never
// see in place of our one line: it fails the test, and its text comes back marked.
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an asdm::Error (" << typeid(e).name() << "): " << e.what();
    return std::string("(not an asdm::Error) ") + e.what();
  }
  return "";
}

}  // namespace asdm::test
