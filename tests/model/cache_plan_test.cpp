// Cache plans as files and their checks: DeepCache's uniform policy, a JSON round trip, and one
// line for a plan of another model, another number of calls, or units the model lacks, cannot
// reuse or reuses before computing.
#include "model/cache_plan.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_env.h"

namespace asdm {
namespace {

ArchSpec tiny() { return arch_from_config(load_unet_config(test::config_path("tiny"))); }

TEST(CachePlan, UniformComputesEveryIntervalthCall) {
  const CachePlan p = CachePlan::uniform(tiny(), {"mid_block.resnets.1"}, 3, 7);
  ASSERT_EQ(p.reuse.size(), 7u);
  for (int c = 0; c < 7; ++c) EXPECT_EQ(p.reuse[c].empty(), c % 3 == 0) << c;
  EXPECT_EQ(p.reusing_calls(), 4);
  EXPECT_EQ(p.units(), std::set<std::string>{"mid_block.resnets.1"});
  p.check(tiny(), 7);
}

TEST(CachePlan, RoundTripsThroughJson) {
  CachePlan p =
      CachePlan::uniform(tiny(), {"mid_block.resnets.1", "up_blocks.1.attentions.0"}, 2, 5);
  p.header = ArtifactHeader::make(CachePlan::kArtifact, CachePlan::kSchemaVersion, {});
  const std::filesystem::path f = test::scratch_dir("cache_plan_json") / "plan.json";
  p.write(f);
  const CachePlan q = CachePlan::read(f);
  EXPECT_EQ(q.calls, 5);
  EXPECT_EQ(q.reuse, p.reuse);
  EXPECT_EQ(q.policy, p.policy);
  EXPECT_TRUE(same_config(q.model.teacher, p.model.teacher));
  EXPECT_EQ(test::error_of([&] {
              CachePlan::from_json(nlohmann::json{{"artifact", "bench"}}, "x.json");
            }).rfind("x.json is not a cache_plan.json", 0),
            0u);
  // 2^32 + 5 was read as 5, and the plan passed its check against 5 calls.
  nlohmann::json wide = p.to_json();
  wide["calls"] = 4294967301LL;
  EXPECT_EQ(test::error_of([&] { CachePlan::from_json(wide, "x.json"); }),
            "x.json: 'calls' must be a positive integer, got 4294967301");
}

TEST(CachePlan, MismatchesAreOneLine) {
  const ArchSpec m = tiny();
  const CachePlan p = CachePlan::uniform(m, {"mid_block.resnets.1"}, 2, 4);
  EXPECT_EQ(test::error_of([&] { p.check(m, 5); }),
            "the cache plan covers 4 model calls, this sampler makes 5 (steps and sampler must "
            "match the plan's)");
  ArchSpec student = m;
  student.edits.push_back(Edit::remove("mid_block.resnets.1"));
  EXPECT_EQ(test::error_of([&] { p.check(student, 4); }),
            "the cache plan was made for another architecture of this teacher (0 edits, the "
            "model has 1)");
  EXPECT_EQ(test::error_of([&] {
              CachePlan::uniform(student, {"mid_block.resnets.1"}, 2, 4).check(student, 4);
            }),
            "the cache plan reuses mid_block.resnets.1, which the model removes");
  EXPECT_EQ(
      test::error_of([&] { CachePlan::uniform(m, {"mid_block.resnets.7"}, 2, 4).check(m, 4); }),
      "the cache plan reuses mid_block.resnets.7, which the model does not have");
  EXPECT_EQ(test::error_of([&] { CachePlan::uniform(m, {"conv_in"}, 2, 4).check(m, 4); }),
            "the cache plan reuses conv_in, which has no shortcut and branch (not a resnet, "
            "attention or transformer unit)");
  CachePlan early = p;
  early.reuse[0] = {"mid_block.resnets.1"};
  EXPECT_EQ(test::error_of([&] { early.check(m, 4); }),
            "the cache plan reuses mid_block.resnets.1 at call 0 before any call computed it");
  UNetConfig other = m.teacher;
  other.block_out_channels[0] += 8;
  EXPECT_EQ(test::error_of([&] { p.check(arch_from_config(other), 4); }),
            "the cache plan was made for another model (its teacher config differs)");
}

TEST(CachePlan, TheSkipBranchFormRoundTripsAndIsChecked) {
  const ArchSpec m = tiny();
  CachePlan p = CachePlan::uniform_skip(m, 1, 3, 7);
  for (int c = 0; c < 7; ++c) EXPECT_EQ(p.skips(c), c % 3 != 0) << c;
  EXPECT_EQ(p.reusing_calls(), 4);
  EXPECT_TRUE(p.units().empty());
  p.check(m, 7);
  p.header = ArtifactHeader::make(CachePlan::kArtifact, CachePlan::kSchemaVersion, {});
  const CachePlan q = CachePlan::from_json(p.to_json());
  EXPECT_EQ(q.skip_level, 1);
  EXPECT_EQ(q.skip, p.skip);
  // A plan without skipping writes no skip fields, and reads back without them.
  EXPECT_FALSE(CachePlan::uniform(m, {"mid_block.resnets.1"}, 2, 4).to_json().contains("skip"));
  int deepest = 0;
  for (const auto& b : m.student_layout().down) deepest = std::max(deepest, b.level);
  CachePlan deep = CachePlan::uniform_skip(m, deepest + 1, 2, 4);
  EXPECT_EQ(test::error_of([&] { deep.check(m, 4); }),
            fmt::format("the cache plan skips from resolution level {}; this model's levels to "
                        "skip are 1..{}",
                        deepest + 1, deepest));
  CachePlan first = CachePlan::uniform_skip(m, 1, 2, 4);
  first.skip[0] = true;
  EXPECT_EQ(test::error_of([&] { first.check(m, 4); }),
            "the cache plan skips the deep part at call 0, before any call ran it");
  first.skip.resize(3);
  EXPECT_EQ(test::error_of([&] { first.check(m, 4); }),
            "the cache plan marks 3 calls for skipping but covers 4");
  // The branch inside a block: written only when set, read back, and bounded by the layers.
  CachePlan inner = CachePlan::uniform_skip(m, 2, 2, 4, 1);
  inner.check(m, 4);
  inner.header = ArtifactHeader::make(CachePlan::kArtifact, CachePlan::kSchemaVersion, {});
  EXPECT_EQ(CachePlan::from_json(inner.to_json()).skip_layers, 1);
  EXPECT_FALSE(p.to_json().contains("skip_layers"));
  EXPECT_EQ(CachePlan::from_json(p.to_json()).skip_layers, -1);
  inner.skip_layers = 3;
  EXPECT_EQ(test::error_of([&] { inner.check(m, 4); }),
            "the cache plan keeps 3 layer(s) of the blocks at level 1; this model's down block "
            "there has 2");
  inner.skip_layers = -2;
  EXPECT_EQ(test::error_of([&] { inner.check(m, 4); }),
            "the cache plan keeps -2 layers (-1: whole blocks)");
  CachePlan none = CachePlan::uniform(m, {"mid_block.resnets.1"}, 2, 4);
  none.skip_layers = 1;
  EXPECT_EQ(test::error_of([&] { none.check(m, 4); }),
            "the cache plan keeps 1 layer(s) inside a block but has no skip level");
}

}  // namespace
}  // namespace asdm
