// The proxy teacher and classifier kept in the repository (assets/proxy-default/): every file the
// manifest lists matches its recorded SHA-256, and both load.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/sha256.h"
#include "proxy/classifier.h"
#include "proxy/pipeline.h"
#include "tests/test_env.h"

namespace asdm::proxy {
namespace {

TEST(KeptProxyAssets, MatchTheirHashesAndLoad) {
  const auto dir = test::source_dir() / "assets" / "proxy-default";
  ASSERT_TRUE(std::filesystem::exists(dir / "MANIFEST.json")) << "no kept teacher in " << dir;
  const auto manifest = read_json_file(dir / "MANIFEST.json");
  ASSERT_TRUE(manifest.contains("files") && !manifest["files"].empty());
  for (const auto& [file, hash] : manifest["files"].items())
    EXPECT_EQ(sha256_file(dir / file), hash.get<std::string>()) << file;
  const ProxyPipeline p = ProxyPipeline::load(dir / "teacher");
  EXPECT_EQ(p.world.name, "default");
  const auto c = AttributeClassifier::load(dir / "classifier");
  EXPECT_EQ(c->world().name, "default");
  for (const char* k : {"command", "seed", "threads", "eval"})
    EXPECT_TRUE(manifest.contains(k)) << k;
}

}  // namespace
}  // namespace asdm::proxy
