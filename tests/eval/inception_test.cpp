#include "eval/inception.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/png.h"
#include "eval/images.h"
#include "model/tensor_io.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(Inception, RandomWeightsGiveEveryLayerAndPreprocessing) {
  const auto net = FidInception::random(3);
  torch::InferenceMode guard;
  const auto images = torch::randint(0, 256, {2, 3, 40, 56}, torch::kUInt8);
  for (auto mode : {InceptionPreprocess::kPytorchFid, InceptionPreprocess::kClean,
                    InceptionPreprocess::kTorchFidelity}) {
    EXPECT_EQ(net->preprocess(images, mode).sizes(), (std::vector<int64_t>{2, 3, 299, 299}));
    EXPECT_EQ(parse_inception_preprocess(to_string(mode)), mode);
  }
  for (int dims : {64, 192, 768}) {
    at::Tensor pool;
    net->forward(images, InceptionPreprocess::kPytorchFid, dims, {&pool, nullptr});
    EXPECT_EQ(pool.sizes(), (std::vector<int64_t>{2, dims}));
  }
  EXPECT_NE(test::error_of([&] {
              net->forward(images, InceptionPreprocess::kPytorchFid, 100, {nullptr, nullptr});
            }).find("not one of"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              net->preprocess(images.to(torch::kFloat32), InceptionPreprocess::kClean);
            }).find("uint8"),
            std::string::npos);
}

TEST(Inception, WeightsOfAnotherNetworkAreOneErrorListingTheProblems) {
  const auto dir = test::scratch_dir("inception-bad-weights");
  write_tensors(dir / "w.safetensors",
                {{"conv.weight", torch::zeros({2, 2})},
                 {"Conv2d_1a_3x3.conv.weight", torch::zeros({32, 3, 5, 5})}});
  const std::string e = test::error_of([&] { FidInception::load(dir / "w.safetensors"); });
  EXPECT_NE(e.find("is not the FID Inception-v3"), std::string::npos) << e;
  EXPECT_NE(e.find("Conv2d_1a_3x3.conv.weight is [32, 3, 5, 5], expected [32, 3, 3, 3]"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("1 unexpected (conv.weight)"), std::string::npos) << e;
  write_file_atomic(dir / "garbage.pth", "PK\x03\x04 not really a zip");
  EXPECT_FALSE(test::error_of([&] { FidInception::load(dir / "garbage.pth"); }).empty());
}

TEST(Images, MixedSizesAndUnreadableFilesNameTheFile) {
  const auto dir = test::scratch_dir("eval-images");
  std::vector<uint8_t> px(8 * 6 * 3, 100);
  write_png(dir / "a.png", px.data(), 8, 6);
  write_png(dir / "b.png", px.data(), 6, 8);
  write_file_atomic(dir / "c.png", "not a png");
  const auto files = list_images(dir);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_NE(test::error_of([&] {
              read_images({files[0], files[1]});
            }).find("b.png' is 6x8"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { read_images({files[2]}); }).find("c.png"), std::string::npos);
  EXPECT_EQ(read_images({files[0]}).sizes(), (std::vector<int64_t>{1, 3, 6, 8}));
}

}  // namespace
}  // namespace asdm
