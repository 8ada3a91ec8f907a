// The C++ UNet against the real diffusers library (tests/reference/make_reference.py, run by CTest
// first): every captured unit and block output, and out_sample, within 1e-4 + 1e-4 * max|ref|.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/capture.h"
#include "model/checkpoint.h"
#include "model/tensor_io.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

class DiffusersReference : public ::testing::TestWithParam<std::string> {};

TEST_P(DiffusersReference, MatchesEveryCapturedTensor) {
  const auto dir = test::binary_dir() / "reference" / GetParam();
  ASSERT_TRUE(std::filesystem::exists(dir / "io.safetensors"))
      << "run the reference.generate test first (ctest runs it as a fixture)";
  auto unet = load_unet(dir);
  const TensorMap io = read_tensors(dir / "io.safetensors");
  AddedConditions added;
  if (io.count("text_embeds")) {
    added.text_embeds = &io.at("text_embeds");
    added.time_ids = &io.at("time_ids");
  }
  if (io.count("timestep_cond")) added.timestep_cond = &io.at("timestep_cond");
  if (io.count("class_labels")) added.class_labels = &io.at("class_labels");
  ActivationCapture cap;
  TensorMap& acts = cap.tensors();
  torch::InferenceMode guard;
  acts["out_sample"] = unet->forward(io.at("sample"), io.at("timestep"),
                                     io.at("encoder_hidden_states"), added, &cap);
  int compared = 0;
  for (const auto& [name, ref] : io) {
    if (name != "out_sample" && name.rfind("act.", 0) != 0) continue;
    ASSERT_TRUE(acts.count(name)) << "asdm captured no " << name;
    const auto& got = acts.at(name);
    ASSERT_EQ(got.sizes(), ref.sizes()) << name;
    const double tol = 1e-4 + 1e-4 * ref.abs().max().item<double>();
    EXPECT_LE((got - ref).abs().max().item<double>(), tol) << name;
    ++compared;
  }
  EXPECT_GT(compared, 40);
}

INSTANTIATE_TEST_SUITE_P(Variants, DiffusersReference,
                         ::testing::Values("sdxl_like", "options", "sd2_like"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace asdm
