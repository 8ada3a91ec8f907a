// Incubation data: batches are functions of the step alone; a latents file is visited row by row
// once per epoch; bad files are named.
#include "incubation/data.h"

#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/tensor_io.h"
#include "proxy/pipeline.h"
#include "proxy/world.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(IncubationData, ProxyBatchesAreFunctionsOfTheStep) {
  const auto p = proxy::ProxyPipeline::create(proxy::world_spec("test"), 3);
  const auto d = proxy_data(p, 5, 0.5);
  const TrainBatch a = d->batch(7, 4), b = d->batch(7, 4), c = d->batch(8, 4);
  EXPECT_TRUE(torch::equal(a.x0, b.x0));
  EXPECT_TRUE(torch::equal(a.hidden, b.hidden));
  EXPECT_FALSE(torch::equal(a.x0, c.x0));
  EXPECT_EQ(a.x0.sizes(), (std::vector<int64_t>{4, 12, 8, 8}));
  ASSERT_TRUE(a.class_labels.has_value());
  EXPECT_EQ(a.class_labels->size(0), 4);
}

TEST(IncubationData, LatentsFileVisitsEveryRowOncePerEpoch) {
  const auto dir = test::scratch_dir("incubation_data");
  TensorMap t;
  t["latents"] =
      torch::arange(10, torch::kFloat32).view({10, 1, 1, 1}).expand({10, 4, 2, 2}).contiguous();
  t["encoder_hidden_states"] =
      torch::arange(10, torch::kFloat32).view({10, 1, 1}).expand({10, 3, 8}).contiguous();
  t["class_labels"] = torch::zeros({10, 6});
  write_tensors(dir / "latents.safetensors", t);
  const auto d = latents_data(dir / "latents.safetensors", 1);
  std::multiset<int> seen;
  for (int step = 1; step <= 5; ++step) {  // 5 batches of 2 = one epoch
    const TrainBatch b = d->batch(step, 2);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(b.x0[i][0][0][0].item<float>(),
                b.hidden[i][0][0].item<float>());  // rows stay paired
      seen.insert(static_cast<int>(b.x0[i][0][0][0].item<float>()));
    }
    EXPECT_TRUE(b.class_labels.has_value());
  }
  EXPECT_EQ(seen, (std::multiset<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_TRUE(torch::equal(d->batch(3, 2).x0,
                           latents_data(dir / "latents.safetensors", 1)->batch(3, 2).x0));

  t.erase("encoder_hidden_states");
  write_tensors(dir / "bad.safetensors", t);
  EXPECT_EQ(test::error_of([&] { latents_data(dir / "bad.safetensors", 1); }),
            (dir / "bad.safetensors").string() +
                " has no 'encoder_hidden_states' tensor (incubation data needs latents and "
                "encoder_hidden_states)");
}

}  // namespace
}  // namespace asdm
