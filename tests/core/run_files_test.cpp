// StagedOutput: written under a temporary name, renamed on commit, gone when never committed.
#include "core/run_files.h"

#include <fstream>

#include <gtest/gtest.h>

#include "tests/test_env.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

TEST(StagedOutput, AppearsOnlyWhenCommitted) {
  const fs::path dir = test::scratch_dir("staged_output");
  {
    StagedOutput out(dir / "a");
    fs::create_directories(out.path());
    std::ofstream(out.path() / "x") << "x";
  }  // never committed: nothing left
  EXPECT_FALSE(fs::exists(dir / "a"));
  EXPECT_TRUE(fs::is_empty(dir));
  fs::create_directories(dir / ".tmp-b");  // a killed run's leftover is cleared
  std::ofstream(dir / ".tmp-b" / "stale") << "s";
  StagedOutput out(dir / "b");
  EXPECT_FALSE(fs::exists(out.path()));
  std::ofstream(out.path()) << "done";
  out.commit();
  EXPECT_TRUE(fs::is_regular_file(dir / "b"));
  EXPECT_FALSE(fs::exists(out.path()));
}

}  // namespace
}  // namespace asdm
