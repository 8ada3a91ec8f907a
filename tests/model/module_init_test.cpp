#include "model/module_init.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/checkpoint.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

namespace nn = torch::nn;

// Names and shapes of a module's parameters, in order.
std::vector<std::pair<std::string, std::vector<int64_t>>> layout(const nn::Module& m) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().sizes().vec());
  return out;
}

// Copies b's parameters into a (same layout).
void copy_parameters(nn::Module& a, const nn::Module& b) {
  torch::NoGradGuard ng;
  auto src = b.named_parameters();
  for (auto& p : a.named_parameters()) p.value().copy_(src[p.key()]);
}

const auto kLinear = nn::LinearOptions(5, 7);
const auto kLinearNoBias = nn::LinearOptions(6, 3).bias(false);
const auto kConv = nn::Conv2dOptions(4, 6, 3).stride(2).padding(1);
const auto kConv1x1 = nn::Conv2dOptions(3, 5, 1).padding(0).bias(false);
const auto kEmbedding = nn::EmbeddingOptions(11, 4);
const auto kEmbeddingPadded = nn::EmbeddingOptions(9, 2).padding_idx(4);

TEST(ModuleInit, WithoutAGuardTheLayersAreLibtorchsOwn) {
  EXPECT_FALSE(init_skipped());
  torch::manual_seed(3);
  auto l = make_linear(kLinear);
  auto c = make_conv2d(kConv);
  auto e = make_embedding(kEmbeddingPadded);
  const auto after = torch::rand({2});
  torch::manual_seed(3);
  nn::Linear l2(kLinear);
  nn::Conv2d c2(kConv);
  nn::Embedding e2(kEmbeddingPadded);
  EXPECT_TRUE(torch::equal(after, torch::rand({2})));  // the same draws, in the same order
  EXPECT_TRUE(torch::equal(l->weight, l2->weight));
  EXPECT_TRUE(torch::equal(l->bias, l2->bias));
  EXPECT_TRUE(torch::equal(c->weight, c2->weight));
  EXPECT_TRUE(torch::equal(c->bias, c2->bias));
  EXPECT_TRUE(torch::equal(e->weight, e2->weight));
}

TEST(ModuleInit, UnderAGuardTheLayersAreLibtorchsShapesAndTheGeneratorIsUntouched) {
  torch::manual_seed(3);
  const auto expected = torch::rand({4});
  torch::manual_seed(3);
  nn::Linear l{nullptr}, ln{nullptr};
  nn::Conv2d c{nullptr}, c1{nullptr};
  nn::Embedding e{nullptr}, ep{nullptr};
  {
    SkipInitGuard skip;
    EXPECT_TRUE(init_skipped());
    {
      SkipInitGuard inner;  // nested: the outer one still skips and restores
    }
    EXPECT_TRUE(init_skipped());
    l = make_linear(kLinear);
    ln = make_linear(kLinearNoBias);
    c = make_conv2d(kConv);
    c1 = make_conv2d(kConv1x1);
    e = make_embedding(kEmbedding);
    ep = make_embedding(kEmbeddingPadded);
    (void)torch::rand({100});  // draws inside the guard are undone too
  }
  EXPECT_FALSE(init_skipped());
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected));

  // Each layer has libtorch's parameters and options: loaded with a libtorch layer's weights it
  // computes what that layer computes.
  auto check = [](nn::Module& made, const nn::Module& reference, const torch::Tensor& input,
                  auto forward_made, auto forward_reference) {
    EXPECT_EQ(layout(made), layout(reference));
    for (const auto& p : made.parameters()) EXPECT_TRUE(p.requires_grad());
    copy_parameters(made, reference);
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::equal(forward_made(input), forward_reference(input)));
  };
  const auto x_lin = torch::randn({2, 5}), x_lin_nb = torch::randn({2, 6});
  const auto x_conv = torch::randn({1, 4, 9, 9}), x_conv1 = torch::randn({1, 3, 4, 4});
  const auto ids = torch::tensor({0, 4, 8, 3});
  nn::Linear rl(kLinear), rln(kLinearNoBias);
  nn::Conv2d rc(kConv), rc1(kConv1x1);
  nn::Embedding re(kEmbedding), rep(kEmbeddingPadded);
  check(
      *l, *rl, x_lin, [&](auto& t) { return l->forward(t); },
      [&](auto& t) { return rl->forward(t); });
  check(
      *ln, *rln, x_lin_nb, [&](auto& t) { return ln->forward(t); },
      [&](auto& t) { return rln->forward(t); });
  check(
      *c, *rc, x_conv, [&](auto& t) { return c->forward(t); },
      [&](auto& t) { return rc->forward(t); });
  check(
      *c1, *rc1, x_conv1, [&](auto& t) { return c1->forward(t); },
      [&](auto& t) { return rc1->forward(t); });
  check(
      *e, *re, ids.clamp_max(10), [&](auto& t) { return e->forward(t); },
      [&](auto& t) { return re->forward(t); });
  check(
      *ep, *rep, ids, [&](auto& t) { return ep->forward(t); },
      [&](auto& t) { return rep->forward(t); });
  EXPECT_EQ(c->options.in_channels(), 4);
  EXPECT_EQ(c->options.out_channels(), 6);
  EXPECT_EQ(l->options.in_features(), 5);
  EXPECT_EQ(ep->options.padding_idx(), 4);
}

TEST(ModuleInit, LoadingAUnetWithWeightsDrawsNothingAndWithoutWeightsInitialisesAsBefore) {
  const ArchSpec spec = arch_from_config(load_unet_config(test::config_path("tiny")));
  torch::manual_seed(11);
  UNet saved(spec);
  const auto dir = test::scratch_dir("module_init_unet");
  save_unet(saved, dir);

  torch::manual_seed(7);
  const auto expected = torch::rand({3});
  torch::manual_seed(7);
  auto loaded = load_unet(dir);
  EXPECT_TRUE(torch::equal(torch::rand({3}), expected));
  auto want = saved.module().named_parameters();
  for (const auto& p : loaded->module().named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), want[p.key()])) << p.key();

  // A bare config has no weights to load: its layers are initialised as libtorch does.
  torch::manual_seed(11);
  auto random = load_unet(test::config_path("tiny"), {.allow_random_weights = true});
  for (const auto& p : random->module().named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), want[p.key()])) << p.key();
}

}  // namespace
}  // namespace asdm
