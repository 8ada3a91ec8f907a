#pragma once
// The paths configured at build time. tests/test_paths.cpp, compiled from the generated
// asdm_test_paths.h, is the only file that holds them, so that a checkout at another path
// recompiles that file alone and ccache (CCACHE_BASEDIR) serves every test file from the cache.

namespace asdm::test {

struct ConfiguredPaths {
  const char* source_dir;
  const char* binary_dir;
  const char* shared_dir;
  const char* python;
  const char* asdm_exe;
  const char* chromium;  // "" when none was found
};

const ConfiguredPaths& configured_paths();

}  // namespace asdm::test
