// Cache plans applied to UNet forwards (model/branch_cache.h), the identities of issue 23: a plan
// that reuses nothing is the model bit for bit; reusing a unit whose branch is zero changes
// nothing; reusing right after computing on the same input equals computing (up to float
// rounding); a run of the plan's length starts the next run afresh. The same for DeepCache's
// skip-branch form, which runs fewer units.
#include "model/branch_cache.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/observer.h"
#include "model/unet.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

struct Tiny {
  ArchSpec spec = arch_from_config(load_unet_config(test::config_path("tiny")));
  std::unique_ptr<UNet> unet;
  torch::Tensor ehs, t;
  Tiny() {
    torch::manual_seed(3);
    unet = std::make_unique<UNet>(spec);
    ehs = torch::randn({2, 7, 32});
    t = torch::tensor({500, 500});
  }
  torch::Tensor run(const torch::Tensor& x, BranchCache* cache = nullptr) const {
    torch::NoGradGuard ng;
    BranchCacheGuard g(cache);
    return unet->forward(x, t, ehs);
  }
};

CachePlan plan(const ArchSpec& spec, std::vector<std::vector<std::string>> reuse) {
  CachePlan p;
  p.model = spec;
  p.calls = int(reuse.size());
  p.reuse = std::move(reuse);
  p.check(spec, p.calls);
  return p;
}

TEST(BranchCache, APlanThatReusesNothingIsTheModelBitForBit) {
  Tiny m;
  BranchCache cache(plan(m.spec, {{}, {}, {}}));
  for (int i = 0; i < 4; ++i) {
    const torch::Tensor x = torch::randn({2, 4, 16, 16});
    EXPECT_TRUE(torch::equal(m.run(x, &cache), m.run(x))) << i;
  }
  EXPECT_EQ(cache.forwards(), 4);
  EXPECT_EQ(cache.reused(), 0);
  EXPECT_EQ(cache.peak_bytes(), 0);
}

TEST(BranchCache, ReusingAZeroBranchChangesNothing) {
  Tiny m;
  {
    torch::NoGradGuard ng;  // the ResBlock's branch ends in conv2: zero it
    auto params = m.unet->module().named_parameters(true);
    params["down_blocks.1.resnets.0.conv2.weight"].zero_();
    params["down_blocks.1.resnets.0.conv2.bias"].zero_();
  }
  BranchCache cache(plan(m.spec, {{}, {"down_blocks.1.resnets.0"}}));
  const torch::Tensor x0 = torch::randn({2, 4, 16, 16}), x1 = torch::randn({2, 4, 16, 16});
  EXPECT_TRUE(torch::equal(m.run(x0, &cache), m.run(x0)));
  EXPECT_TRUE(torch::equal(m.run(x1, &cache), m.run(x1)));
  EXPECT_EQ(cache.reused(), 1);
  EXPECT_GT(cache.peak_bytes(), 0);
}

TEST(BranchCache, ReusingRightAfterComputingOnTheSameInputEqualsComputing) {
  Tiny m;
  const std::vector<std::string> units = {"down_blocks.0.attentions.0", "mid_block.resnets.1",
                                          "up_blocks.2.resnets.1"};
  BranchCache cache(plan(m.spec, {{}, units}));
  const torch::Tensor x = torch::randn({2, 4, 16, 16});
  const torch::Tensor computed = m.run(x, &cache), reused = m.run(x, &cache);
  EXPECT_LE((reused - computed).abs().max().item<double>(),
            1e-5 * computed.abs().max().item<double>());
  EXPECT_EQ(cache.reused(), 3);
  // On another input the reused branches are stale: the output moves, but not far.
  const torch::Tensor y = x + 0.05 * torch::randn({2, 4, 16, 16});
  m.run(x, &cache);  // call 0 again: a new run, computed
  const torch::Tensor stale = m.run(y, &cache), fresh = m.run(y);
  EXPECT_FALSE(torch::equal(stale, fresh));
  EXPECT_LT((stale - fresh).norm().item<double>(), 0.5 * fresh.norm().item<double>());
}

TEST(BranchCache, TheKeptBranchesAreTheUnitsOutputMinusItsShortcut) {
  // The memory a plan costs: one branch per reused unit, of the unit's output size.
  Tiny m;
  BranchCache cache(plan(m.spec, {{}, {"mid_block.resnets.1"}}));
  m.run(torch::randn({2, 4, 16, 16}), &cache);
  const UnitInfo* u = m.spec.student_layout().find("mid_block.resnets.1");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(cache.bytes(), int64_t(2) * u->out_channels * 2 * 2 * 4);  // [2, C, 2, 2] float32
}

// Counts the units a forward enters.
struct Count : UnitObserver {
  int entered = 0;
  void on_enter(const UnitInfo&) override { ++entered; }
};

// Calls 0 and 1 of the cache's plan on the same input, each counting the units it entered.
std::pair<torch::Tensor, torch::Tensor> two_calls(const Tiny& m, BranchCache& cache,
                                                  const torch::Tensor& x, Count& first,
                                                  Count& second) {
  torch::NoGradGuard ng;
  BranchCacheGuard g(&cache);
  torch::Tensor a = m.unet->forward(x, m.t, m.ehs, {}, &first);
  return {a, m.unet->forward(x, m.t, m.ehs, {}, &second)};
}

TEST(BranchCache, SkippingTheDeepPartRightAfterRunningItOnTheSameInputEqualsRunningIt) {
  Tiny m;
  const CachePlan p = CachePlan::uniform_skip(m.spec, 1, 2, 2);
  p.check(m.spec, 2);
  BranchCache cache(p);
  const torch::Tensor x = torch::randn({2, 4, 16, 16});
  Count full, skipped;
  const auto [computed, reused] = two_calls(m, cache, x, full, skipped);
  EXPECT_TRUE(torch::equal(computed, reused));
  EXPECT_TRUE(torch::equal(computed, m.run(x)));
  // The skip call ran only the level-0 blocks and the fixed parts.
  int level0 = 0, fixed = 0;
  for (const auto& u : m.spec.student_layout().units) {
    if (u.kind == UnitKind::kFixed)
      ++fixed;
    else if (u.level == 0 && u.kind != UnitKind::kDownsample)
      ++level0;
  }
  EXPECT_EQ(skipped.entered, level0 + fixed);
  EXPECT_LT(skipped.entered, full.entered);
  EXPECT_GT(cache.peak_bytes(), 0);
  // On another input the deep part is stale: the output moves, but not far.
  const torch::Tensor y = x + 0.05 * torch::randn({2, 4, 16, 16});
  m.run(x, &cache);  // call 0 of the next run
  const torch::Tensor stale = m.run(y, &cache), fresh = m.run(y);
  EXPECT_FALSE(torch::equal(stale, fresh));
  EXPECT_LT((stale - fresh).norm().item<double>(), 0.5 * fresh.norm().item<double>());
}

// DeepCache's branch inside a block: with K layers kept, the skip call runs the first K layers of
// the level-0 down block and the last K + 1 of the level-0 up block; right after a full call on the
// same input that is the model bit for bit, and keeping every layer is the whole-block form.
TEST(BranchCache, SkippingInsideABlockRightAfterRunningItEqualsRunningIt) {
  Tiny m;
  const torch::Tensor x = torch::randn({2, 4, 16, 16}), y = x + 0.05 * torch::randn({2, 4, 16, 16});
  const UNetLayout layout = m.spec.student_layout();
  auto stale = [&](const CachePlan& p) {
    BranchCache cache(p);
    m.run(x, &cache);
    return m.run(y, &cache);
  };
  std::vector<torch::Tensor> stale_by_layers;
  for (int k = 0; k <= 2; ++k) {
    const CachePlan p = CachePlan::uniform_skip(m.spec, 1, 2, 2, k);
    p.check(m.spec, 2);
    BranchCache cache(p);
    Count full, skipped;
    const auto [computed, reused] = two_calls(m, cache, x, full, skipped);
    EXPECT_TRUE(torch::equal(computed, reused)) << k;
    EXPECT_TRUE(torch::equal(computed, m.run(x))) << k;
    int expected = 0;
    for (const auto& u : layout.units) {
      if (u.kind == UnitKind::kFixed) {
        ++expected;
      } else if (u.level == 0 && u.removable()) {
        // Top-level units and their transformer blocks: down layers < k, up layers >= 3 - 1 - k.
        const UnitInfo& top = u.parent.empty() ? u : layout.at(u.parent);
        expected += top.stage == Stage::kDown ? top.layer < k : top.layer >= 2 - k;
      }
    }
    EXPECT_EQ(skipped.entered, expected) << k;
    EXPECT_LT(skipped.entered, full.entered) << k;
    stale_by_layers.push_back(stale(p));
  }
  // Fewer layers kept: more of the output is stale.
  const torch::Tensor fresh = m.run(y);
  EXPECT_GT((stale_by_layers[0] - fresh).norm().item<double>(),
            (stale_by_layers[2] - fresh).norm().item<double>());
  EXPECT_TRUE(torch::equal(stale_by_layers[2], stale(CachePlan::uniform_skip(m.spec, 1, 2, 2))));
}

TEST(BranchCache, APlanThatNeverSkipsIsTheModelBitForBit) {
  Tiny m;
  CachePlan p = CachePlan::uniform_skip(m.spec, 2, 1, 3);  // every call runs everything
  BranchCache cache(p);
  const torch::Tensor x = torch::randn({2, 4, 16, 16});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(m.run(x, &cache), m.run(x))) << i;
  EXPECT_EQ(cache.peak_bytes(), 0);
}

}  // namespace
}  // namespace asdm
