// torchrun's variables: a process without them is a job of one; a malformed or incomplete set is
// one error naming the variable.
#include "distributed/launch_env.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include "tests/test_env.h"

namespace asdm::dist {
namespace {

// Sets torchrun's variables for one test (unset: nullptr) and restores a clean environment after.
struct Env {
  explicit Env(std::initializer_list<std::pair<const char*, const char*>> vars) {
    clear();
    for (const auto& [k, v] : vars)
      if (v) ::setenv(k, v, 1);
  }
  ~Env() { clear(); }
  static void clear() {
    for (const char* k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"})
      ::unsetenv(k);
  }
};

TEST(LaunchEnv, NoVariablesIsAJobOfOne) {
  Env e({});
  const LaunchEnv l = LaunchEnv::from_environment();
  EXPECT_FALSE(l.distributed());
  EXPECT_TRUE(l.leader());
  EXPECT_EQ(l.describe(), "");
  EXPECT_EQ(l.local_device("cuda"), "cuda");
}

TEST(LaunchEnv, ReadsTorchrunsVariables) {
  Env e({{"RANK", "3"},
         {"WORLD_SIZE", "4"},
         {"LOCAL_RANK", "1"},
         {"MASTER_ADDR", "node7"},
         {"MASTER_PORT", "29500"}});
  const LaunchEnv l = LaunchEnv::from_environment();
  EXPECT_EQ(l.rank, 3);
  EXPECT_EQ(l.world, 4);
  EXPECT_EQ(l.local_rank, 1);
  EXPECT_EQ(l.master_addr, "node7");
  EXPECT_EQ(l.master_port, 29500);
  EXPECT_EQ(l.describe(), "rank 3 of 4");
  EXPECT_EQ(l.local_device("cuda"), "cuda:1");
  EXPECT_EQ(l.local_device("cuda:0"), "cuda:0");
  EXPECT_EQ(l.local_device("cpu"), "cpu");
}

TEST(LaunchEnv, WorldOfOneNeedsNoMasterButUsesOne) {
  {
    Env e({{"RANK", "0"}, {"WORLD_SIZE", "1"}});
    EXPECT_FALSE(LaunchEnv::from_environment().distributed());
  }
  // torchrun --nproc-per-node 1: a group of one (the backend's path, e.g. NCCL, as with more).
  Env e(
      {{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}});
  const LaunchEnv l = LaunchEnv::from_environment();
  EXPECT_TRUE(l.distributed());
  EXPECT_EQ(l.describe(), "rank 0 of 1");
  EXPECT_EQ(l.local_device("cuda"), "cuda:0");
}

TEST(LaunchEnv, BadVariablesAreNamed) {
  auto error = [](std::initializer_list<std::pair<const char*, const char*>> vars) {
    Env e(vars);
    return test::error_of([] { LaunchEnv::from_environment(); });
  };
  EXPECT_EQ(error({{"WORLD_SIZE", "2"}, {"RANK", "0"}}),
            "WORLD_SIZE=2 but MASTER_ADDR is not set: the ranks cannot meet (torchrun sets it; or "
            "export MASTER_ADDR and MASTER_PORT)");
  EXPECT_EQ(error({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"}}),
            "WORLD_SIZE=2 but MASTER_PORT is not set: the ranks cannot meet (torchrun sets it)");
  EXPECT_EQ(error({{"WORLD_SIZE", "2"}}),
            "WORLD_SIZE is set (2) but RANK is not; launch with torchrun");
  EXPECT_EQ(error({{"RANK", "1"}}), "RANK is set (1) but WORLD_SIZE is not; launch with torchrun");
  EXPECT_EQ(error({{"WORLD_SIZE", "2"}, {"RANK", "2"}}), "RANK='2' is not an integer in [0, 1]");
  EXPECT_EQ(error({{"WORLD_SIZE", "two"}, {"RANK", "0"}}),
            "WORLD_SIZE='two' is not an integer in [1, 1048576]");
  EXPECT_EQ(error({{"WORLD_SIZE", "2"},
                   {"RANK", "0"},
                   {"MASTER_ADDR", "127.0.0.1"},
                   {"MASTER_PORT", "70000"}}),
            "MASTER_PORT='70000' is not an integer in [1, 65535]");
}

}  // namespace
}  // namespace asdm::dist
