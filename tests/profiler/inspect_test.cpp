// inspect.json from a config alone: every field survives a write and a read, the table carries the
// totals, and a resolution the VAE factor does not divide is refused.
#include "profiler/inspect.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(Inspect, ArtifactSurvivesARoundTripAndTableHasTotals) {
  InspectOptions o;
  o.model = test::config_path("tiny").string();
  o.resolution = 64;
  const InspectArtifact a = inspect_model(o, {});
  EXPECT_EQ(a.cost.input.latent_height, 8);
  EXPECT_GT(a.cost.params, 0);
  const auto path = test::scratch_dir("inspect_artifact") / "inspect.json";
  a.write(path);
  EXPECT_EQ(InspectArtifact::read(path).to_json(), a.to_json());
  const std::string table = inspect_table(a);
  EXPECT_NE(table.find("total: "), std::string::npos) << table;
  EXPECT_NE(table.find("input: 64x64 image (8x8 latent)"), std::string::npos) << table;
  o.resolution = 60;
  EXPECT_EQ(test::error_of([&] { inspect_model(o, {}); }),
            "--resolution 60 is not a multiple of the VAE factor 8");
}

}  // namespace
}  // namespace asdm
