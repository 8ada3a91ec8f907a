// Training the test world: the loss falls, the pipeline folder loads back, and a run interrupted
// and resumed ends with the same weights as an uninterrupted one.
#include "proxy/train.h"

#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "model/tensor_io.h"
#include "proxy/pipeline.h"
#include "tests/test_env.h"

namespace asdm::proxy {
namespace {

TrainOptions small(int steps) {
  TrainOptions o;
  o.world = "test";
  o.steps = steps;
  o.batch = 8;
  o.lr = 1e-3;
  o.warmup = 2;
  o.checkpoint_every = 3;
  o.seed = 5;
  return o;
}

TEST(ProxyTrain, ResumeAfterAnInterruptionReproducesTheUninterruptedRun) {
  torch::set_num_threads(1);
  const auto a = test::scratch_dir("proxy_train_straight"),
             b = test::scratch_dir("proxy_train_resumed");
  EXPECT_EQ(train_proxy(a, small(6), false), 6);
  TrainOptions o = small(6);
  o.stop_after = 4;  // interrupted after step 4: its last checkpoint is step 3
  EXPECT_EQ(train_proxy(b, o, false), 4);
  EXPECT_EQ(test::error_of([&] { train_proxy(b, small(6), false); }),
            b.string() +
                " holds a training run (checkpoint at step 3); pass --resume to continue it or "
                "choose another --out");
  EXPECT_EQ(train_proxy(b, small(6), true), 6);
  const TensorMap wa = read_tensors(a / "checkpoint" / "weights.safetensors");
  const TensorMap wb = read_tensors(b / "checkpoint" / "weights.safetensors");
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [k, v] : wa) EXPECT_TRUE(torch::equal(v, wb.at(k))) << k;
  // The log has each step once, in order.
  std::ifstream log(b / "train.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(log, line)) EXPECT_EQ(nlohmann::json::parse(line).at("step"), ++n) << line;
  EXPECT_EQ(n, 6);
  // The folder is a pipeline that loads and samples.
  const ProxyPipeline p = ProxyPipeline::load(a);
  SamplerOptions so;
  so.steps = 2;
  so.guidance = 2.0;
  const auto images = p.generate({"a red circle at the top left"}, 0, so);
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].size(), 16u * 16 * 3);
  EXPECT_EQ(test::error_of([&] {
              train_proxy(test::scratch_dir("proxy_train_none"), small(2), true);
            }).rfind("nothing to resume in ", 0),
            0u);
}

TEST(ProxyTrain, LearnsSomethingInAFewSteps) {
  torch::set_num_threads(1);
  std::vector<double> losses;
  TrainOptions o = small(40);
  o.checkpoint_every = 100;
  train_proxy(test::scratch_dir("proxy_train_loss"), o, false,
              [&](const StepLog& s) { losses.push_back(s.loss); });
  ASSERT_EQ(losses.size(), 40u);
  const double first = (losses[0] + losses[1] + losses[2] + losses[3]) / 4;
  const double last = (losses[36] + losses[37] + losses[38] + losses[39]) / 4;
  EXPECT_LT(last, 0.8 * first) << first << " -> " << last;
}

}  // namespace
}  // namespace asdm::proxy
