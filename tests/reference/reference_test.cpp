// The C++ UNet against the real diffusers library (tests/reference/make_reference.py, run by CTest
// first): every captured unit and block output, and out_sample, within 1e-4 + 1e-4 * max|ref|.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

#include "model/capture.h"
#include "model/checkpoint.h"
#include "model/noise_schedule.h"
#include "model/sampler.h"
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

// asdm's samplers against diffusers' schedulers (make_reference.py's SCHEDULER_CASES): the same
// toy model from the same sample, the timesteps it is called at exactly, the final sample within
// 1e-5 (relative to its largest value when that exceeds 1).
TEST(DiffusersSchedulers, SamplersReproduceTheSchedulers) {
  const auto file = test::binary_dir() / "reference" / "schedulers.safetensors";
  ASSERT_TRUE(std::filesystem::exists(file))
      << "run the reference.generate test first (ctest runs it as a fixture)";
  const TensorMap ref = read_tensors(file);
  torch::InferenceMode guard;
  const at::Tensor init = ref.at("init");
  int cases = 0;
  for (const auto& [key, expected] : ref) {
    const auto dot = key.rfind(".out");
    if (dot == std::string::npos || dot + 4 != key.size()) continue;
    const std::string name = key.substr(0, dot);
    // "<sampler>_<prediction>_<spacing>_<steps>"; prediction is epsilon or v_prediction.
    const auto last = name.rfind('_'), spacing_at = name.rfind('_', last - 1);
    const std::string sampler = name.substr(0, name.find('_'));
    const std::string prediction = name.substr(sampler.size() + 1, spacing_at - sampler.size() - 1);
    SamplerOptions o;
    o.sampler = sampler;
    o.prediction = prediction == "epsilon" ? Prediction::kEpsilon : Prediction::kV;
    o.spacing = name.substr(spacing_at + 1, last - spacing_at - 1);
    o.steps = std::stoi(name.substr(last + 1));
    std::vector<double> called;
    const Denoiser toy = [&](const at::Tensor& x, double t) {
      called.push_back(t);
      return torch::tanh(x) * (t / 1000.0) + 0.05 * x;
    };
    const at::Tensor got = sample(toy, init, NoiseSchedule::make(), o);
    const at::Tensor ts = ref.at(name + ".timesteps");
    ASSERT_EQ(int64_t(called.size()), ts.numel()) << name;
    EXPECT_EQ(int64_t(called.size()), model_calls(o)) << name;
    for (int64_t i = 0; i < ts.numel(); ++i)
      EXPECT_EQ(called[i], ts[i].item<double>()) << name << " call " << i;
    const double scale = std::max(1.0, expected.abs().max().item<double>());
    EXPECT_LE((got - expected).abs().max().item<double>(), 1e-5 * scale) << name;
    ++cases;
  }
  EXPECT_EQ(cases, 8);
}

}  // namespace
}  // namespace asdm
