// Activation checkpointing (model/recompute.h): the same gradients as the plain forward, for all
// weights and for a frozen network with one trainable block, with lower peak memory; observers
// that want cross-attention maps still get maps with their graph.
#include "model/recompute.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/artifact.h"
#include "model/unet.h"
#include "profiler/peak_memory.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

struct Grads {
  std::map<std::string, torch::Tensor> grads;
  int64_t peak = 0;
};

// One forward and backward of a seeded tiny UNet on a 32x32 latent; only parameters under
// `trainable` (all when empty) get gradients.
Grads step(bool recompute, const std::string& trainable = "") {
  torch::manual_seed(11);
  UNet u(arch_from_config(load_unet_config(test::config_path("tiny"))));
  for (auto& p : u.module().named_parameters(true))
    p.value().requires_grad_(trainable.empty() || p.key().rfind(trainable, 0) == 0);
  const torch::Tensor x = torch::randn({2, 4, 32, 32});
  const torch::Tensor t = torch::tensor({10, 500}, torch::kInt64);
  const torch::Tensor ehs = torch::randn({2, 7, 32});
  Grads g;
  {
    PeakMemory peak;
    RecomputeGuard guard(recompute);
    const torch::Tensor out = u.forward(x, t, ehs);
    out.pow(2).mean().backward();
    g.peak = peak.peak_bytes();
  }
  for (const auto& p : u.module().named_parameters(true))
    if (p.value().grad().defined()) g.grads[p.key()] = p.value().grad().clone();
  return g;
}

void expect_same(const Grads& a, const Grads& b) {
  ASSERT_EQ(a.grads.size(), b.grads.size());
  for (const auto& [k, ga] : a.grads) {
    ASSERT_TRUE(b.grads.count(k)) << k;
    const torch::Tensor& gb = b.grads.at(k);
    // Relative to the gradient's norm: recomputation sums some gradients in another order, a few
    // float32 ulps apart per sum (1.009e-6 for one LayerNorm bias on an AMD EPYC whose kernels
    // take another vector path; a wrong recomputation is off by order 1).
    const double scale = std::max(ga.norm().item<double>(), 1e-12);
    EXPECT_LE((ga - gb).norm().item<double>() / scale, 1e-5) << k;
  }
}

TEST(Recompute, GivesThePlainForwardsGradientsWithLessMemory) {
  torch::set_num_threads(1);
  const Grads plain = step(false), recomputed = step(true);
  EXPECT_GT(plain.grads.size(), 100u);
  expect_same(plain, recomputed);
  EXPECT_LT(recomputed.peak, plain.peak);
  std::printf("peak tensor memory of a forward + backward: %.2f MB plain, %.2f MB recomputed\n",
              plain.peak / 1e6, recomputed.peak / 1e6);
}

TEST(Recompute, TrainsOneBlockOfAFrozenNetwork) {
  // The recomputed units upstream of the block get inputs without grad; the block's weights
  // still get theirs (the weights are inputs of the recomputation).
  torch::set_num_threads(1);
  const Grads plain = step(false, "down_blocks.0."), recomputed = step(true, "down_blocks.0.");
  EXPECT_FALSE(plain.grads.empty());
  for (const auto& [k, g] : plain.grads) EXPECT_EQ(k.rfind("down_blocks.0.", 0), 0u) << k;
  expect_same(plain, recomputed);
}

TEST(Recompute, AttentionMapsKeepTheirGraph) {
  struct Maps : UnitObserver {
    bool wants_attention_maps() const override { return true; }
    void on_tensor(const std::string& path, const at::Tensor& v) override { maps.push_back(v); }
    std::vector<torch::Tensor> maps;
  } obs;
  torch::manual_seed(11);
  UNet u(arch_from_config(load_unet_config(test::config_path("tiny"))));
  RecomputeGuard guard(true);
  u.forward(torch::randn({1, 4, 16, 16}), torch::tensor({10}), torch::randn({1, 7, 32}), {}, &obs);
  ASSERT_FALSE(obs.maps.empty());
  for (const auto& m : obs.maps) EXPECT_TRUE(m.requires_grad());
}

TEST(Recompute, GuardRestoresThePreviousState) {
  EXPECT_FALSE(recompute_enabled());
  {
    RecomputeGuard on(true);
    EXPECT_TRUE(recompute_enabled());
    {
      RecomputeGuard off(false);
      EXPECT_FALSE(recompute_enabled());
    }
    EXPECT_TRUE(recompute_enabled());
  }
  EXPECT_FALSE(recompute_enabled());
}

}  // namespace
}  // namespace asdm
