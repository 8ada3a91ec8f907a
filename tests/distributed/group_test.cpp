// The job's process group over Gloo, with two ranks as two threads of this process (loopback):
// bucketed mean all-reduce over tensors of several sizes and dtypes, broadcast, string gathering,
// and check_same's one error on every rank. A job of one needs no network.
#include "distributed/group.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "tests/free_port.h"
#include "tests/test_env.h"

namespace asdm::dist {
namespace {

using ::asdm::test::free_port;

// Runs `body(group)` on `world` ranks (threads), each with its own group; returns each rank's
// error message ("" when none).
std::vector<std::string> on_ranks(int world, const std::function<void(Group&)>& body) {
  const int port = free_port();
  std::vector<std::string> errors(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        LaunchEnv env;
        env.rank = r;
        env.local_rank = r;
        env.world = world;
        env.master_addr = "127.0.0.1";
        env.master_port = port;
        auto g = Group::join(env, "cpu");
        body(*g);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

TEST(Group, AllReduceMeanOverBucketsAndDtypes) {
  const auto errors = on_ranks(2, [](Group& g) {
    EXPECT_EQ(g.backend(), "gloo");
    const float v = float(g.rank() + 1);  // 1 and 2: the mean is 1.5
    // 8 M floats (32 MB) fill more than one 25 MB bucket; a float64 tensor gets its own.
    std::vector<at::Tensor> t = {torch::full({3, 5}, v), torch::full({8 << 20}, v),
                                 torch::full({7}, v),
                                 torch::full({4}, double(v) * 10, torch::kFloat64)};
    g.all_reduce_mean(t, "a test");
    for (size_t i = 0; i + 1 < t.size(); ++i)
      EXPECT_TRUE(torch::all(t[i] == 1.5f).item<bool>()) << i;
    EXPECT_TRUE(torch::all(t.back() == 15.0).item<bool>());
    EXPECT_EQ(t[0].sizes(), (std::vector<int64_t>{3, 5}));
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
}

TEST(Group, BroadcastAndGather) {
  const auto errors = on_ranks(2, [](Group& g) {
    at::Tensor a = torch::arange(6, torch::kFloat32) * (g.rank() == 0 ? 1 : -7);
    g.broadcast({a}, "a test");
    EXPECT_TRUE(torch::equal(a, torch::arange(6, torch::kFloat32)));
    const auto all = g.all_gather("rank" + std::to_string(g.rank()), "names");
    EXPECT_EQ(all, (std::vector<std::string>{"rank0", "rank1"}));
    // Again: every gather has keys of its own.
    EXPECT_EQ(g.all_gather(std::string(g.rank() + 1, 'x'), "more"),
              (std::vector<std::string>{"x", "xx"}));
    g.barrier("the end");
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
}

TEST(Group, CheckSameFailsOnEveryRankWithOneMessage) {
  const auto errors = on_ranks(2, [](Group& g) {
    g.check_same("the seed", "3");  // agree
    g.check_same("the batch", g.rank() == 0 ? "8" : "16",
                 [](const std::string& a, const std::string& b) {
                   return "batch " + b + " there but " + a + " on rank 0";
                 });
  });
  for (const auto& e : errors)
    EXPECT_EQ(e,
              "ranks disagree on the batch: rank 1 differs from rank 0: batch 16 there but 8 on "
              "rank 0 (start every rank the same way)");
}

TEST(Group, GradientsAreReducedWhileBackwardRuns) {
  const auto errors = on_ranks(2, [](Group& g) {
    // Rank r's loss is (r + 1) * sum(w * x) over 7 M + 1 weights (more than one bucket), and one
    // weight no loss uses: the mean gradient is 1.5 * x, the unused weight keeps no gradient.
    const at::Tensor x1 = torch::linspace(-1, 2, 7 << 20), x2 = torch::full({1}, 0.25f);
    // Buckets fill in reverse order: the big weight alone, then the small one with the unused one.
    std::vector<at::Tensor> params = {torch::zeros({3}, torch::requires_grad()),
                                      torch::zeros({1}, torch::requires_grad()),
                                      torch::zeros({7 << 20}, torch::requires_grad())};
    Group::GradientReducer reducer(g, params);
    EXPECT_EQ(reducer.buckets(), 2u);
    for (int round = 0; round < 2; ++round) {
      for (auto& p : params) p.mutable_grad() = at::Tensor();
      // A first backward that is not armed (an earlier micro-batch) starts nothing.
      ((params[2] * x1).sum() + (params[1] * x2).sum()).mul(0.5 * (g.rank() + 1)).backward();
      EXPECT_EQ(reducer.started(), 0u);
      reducer.arm();
      ((params[2] * x1).sum() + (params[1] * x2).sum()).mul(0.5 * (g.rank() + 1)).backward();
      EXPECT_EQ(reducer.started(), 1u);  // the big bucket; the other holds the unused weight
      reducer.finish("a test");
      EXPECT_TRUE(torch::allclose(params[2].grad(), 1.5 * x1));
      EXPECT_TRUE(torch::allclose(params[1].grad(), 1.5 * x2));
      EXPECT_FALSE(params[0].grad().defined());
    }
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
}

TEST(Group, AJobOfOneNeedsNoNetwork) {
  auto g = Group::single();
  EXPECT_EQ(g->world(), 1);
  EXPECT_TRUE(g->leader());
  EXPECT_EQ(g->backend(), "");
  at::Tensor t = torch::full({3}, 2.0f);
  g->all_reduce_mean({t}, "nothing");
  g->broadcast({t}, "nothing");
  EXPECT_TRUE(torch::all(t == 2.0f).item<bool>());
  EXPECT_EQ(g->all_gather("only", "x"), std::vector<std::string>{"only"});
  g->check_same("anything", "a");
}

}  // namespace
}  // namespace asdm::dist
