// Hugging Face Hub ids and cache folders resolved to their local snapshots (model/hub_cache.h), in
// the cache layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>/...}.
#include "model/hub_cache.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include "core/artifact.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

// HF_HUB_CACHE for the length of a test.
struct ScopedHubCache {
  explicit ScopedHubCache(const fs::path& dir) { ::setenv("HF_HUB_CACHE", dir.c_str(), 1); }
  ~ScopedHubCache() { ::unsetenv("HF_HUB_CACHE"); }
};

// A cached repository with the given snapshots (each holding unet/config.json) and refs/main.
fs::path cached_repo(const fs::path& cache, const std::string& folder,
                     const std::vector<std::string>& snapshots, const std::string& main) {
  const fs::path repo = cache / folder;
  for (const auto& s : snapshots) {
    fs::create_directories(repo / "snapshots" / s / "unet");
    write_file_atomic(repo / "snapshots" / s / "unet" / "config.json", "{}");
  }
  if (!main.empty()) write_file_atomic(repo / "refs" / "main", main + "\n");
  return repo;
}

TEST(HubCache, RepositoryIdsResolveToTheSnapshotRefsMainNames) {
  const fs::path cache = test::scratch_dir("hub_cache_ids");
  ScopedHubCache scoped(cache);
  EXPECT_EQ(hub_cache_dir(), cache);
  const fs::path repo = cached_repo(cache, "models--org--sd-tiny", {"c0ffee", "beef"}, "beef");
  EXPECT_EQ(hub_snapshot("org/sd-tiny"), (repo / "snapshots" / "beef").string());
  EXPECT_EQ(hub_snapshot("org/sd-tiny/unet"), (repo / "snapshots" / "beef" / "unet").string());
  EXPECT_EQ(hub_snapshot("org/sd-tiny/vae"), "");  // not in that snapshot
  EXPECT_EQ(hub_snapshot("org/other"), "");        // not cached
  EXPECT_EQ(hub_snapshot("sd-tiny"), "");          // not a repository id
  // A repository's cache folder is read as its snapshot; any other existing path is itself.
  EXPECT_EQ(hub_snapshot(repo.string() + "/"), (repo / "snapshots" / "beef").string());
  EXPECT_EQ(hub_snapshot((repo / "snapshots" / "beef").string()), "");
  EXPECT_EQ(hub_snapshot(cache.string()), "");
}

TEST(HubCache, WithoutRefsMainTheOnlySnapshotIsTakenAndSeveralAreRefused) {
  const fs::path cache = test::scratch_dir("hub_cache_snapshots");
  ScopedHubCache scoped(cache);
  const fs::path one = cached_repo(cache, "models--org--one", {"aaa"}, "");
  EXPECT_EQ(hub_snapshot("org/one"), (one / "snapshots" / "aaa").string());
  const fs::path two = cached_repo(cache, "models--org--two", {"aaa", "bbb"}, "");
  EXPECT_EQ(
      test::error_of([] { hub_snapshot("org/two"); }),
      "the Hugging Face cache folder '" + two.string() +
          "' has 2 snapshots and no refs/main to choose one: give the snapshot folder ('aaa', "
          "'bbb')");
  // refs/main naming a snapshot that is not there: no other is guessed.
  const fs::path stale = cached_repo(cache, "models--org--stale", {"aaa"}, "ccc");
  EXPECT_EQ(test::error_of([] { hub_snapshot("org/stale"); }),
            "the Hugging Face cache folder '" + stale.string() +
                "': its refs/main names snapshot 'ccc', which is not there (an interrupted "
                "download?); it has 'aaa'");
}

TEST(HubCache, TheCacheFolderFollowsHuggingfaceHubsVariables) {
  ::unsetenv("HF_HUB_CACHE");
  ::unsetenv("HUGGINGFACE_HUB_CACHE");
  ::setenv("HF_HOME", "/data/hf", 1);
  EXPECT_EQ(hub_cache_dir(), fs::path("/data/hf/hub"));
  ::unsetenv("HF_HOME");
  ::setenv("XDG_CACHE_HOME", "/data/xdg", 1);
  EXPECT_EQ(hub_cache_dir(), fs::path("/data/xdg/huggingface/hub"));
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", "/home/u", 1);
  EXPECT_EQ(hub_cache_dir(), fs::path("/home/u/.cache/huggingface/hub"));
}

}  // namespace
}  // namespace asdm
