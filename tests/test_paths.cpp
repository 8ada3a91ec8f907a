#include "tests/test_paths.h"

#include "asdm_test_paths.h"

namespace asdm::test {

const ConfiguredPaths& configured_paths() {
  static const ConfiguredPaths kPaths = {ASDM_TEST_SOURCE_DIR, ASDM_TEST_BINARY_DIR,
                                         ASDM_TEST_SHARED_DIR, ASDM_TEST_PYTHON,
                                         ASDM_TEST_EXE,        ASDM_TEST_CHROMIUM};
  return kPaths;
}

}  // namespace asdm::test
