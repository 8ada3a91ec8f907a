#include "sd/vae.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "tests/tensor_match.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

VaeConfig tiny() {
  VaeConfig c;
  c.block_out_channels = {8, 16, 16};
  c.layers_per_block = 1;
  c.norm_num_groups = 4;
  return c;
}

std::string config_error(const nlohmann::json& j) {
  return test::error_of([&] { parse_vae_config(j); });
}

TEST(Vae, DecodesAndEncodesAtTheDownscaleFactor) {
  torch::manual_seed(0);
  Vae vae(tiny());
  EXPECT_EQ(vae.downscale(), 4);
  torch::InferenceMode guard;
  const auto img = vae.decode(torch::randn({2, 4, 3, 5}));
  EXPECT_EQ(img.sizes(), (std::vector<int64_t>{2, 3, 12, 20}));
  at::Tensor logvar;
  const auto z = vae.encode(torch::rand({1, 3, 12, 20}) * 2 - 1, &logvar);
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{1, 4, 3, 5}));
  EXPECT_EQ(logvar.sizes(), z.sizes());
  EXPECT_THROW(vae.encode(torch::rand({1, 3, 10, 20})), Error);
  EXPECT_THROW(vae.decode(torch::rand({1, 3, 4, 4})), Error);  // 3 latent channels
}

TEST(Vae, ScalingAndShiftFactorsApplyBothWays) {
  torch::manual_seed(1);
  Vae a(tiny());
  const auto dir = test::scratch_dir("vae-shift");
  a.save(dir);
  auto cfg = read_json_file(dir / "config.json");
  cfg["scaling_factor"] = 0.5;
  cfg["shift_factor"] = 0.25;
  write_json_atomic(dir / "config.json", cfg);
  const auto b = Vae::load(dir);
  torch::InferenceMode guard;
  const auto z = torch::randn({1, 4, 2, 3});
  const double s = a.config().scaling_factor;
  EXPECT_TRUE(torch::allclose(b->decode(z), a.decode((z / 0.5 + 0.25) * s), 1e-5, 1e-5));
  const auto img = torch::rand({1, 3, 8, 12}) * 2 - 1;
  EXPECT_TRUE(torch::allclose(b->encode(img), (a.encode(img) / s - 0.25) * 0.5, 1e-5, 1e-5));
}

TEST(Vae, SaveLoadRoundTripsAndConfigErrorsNameTheField) {
  torch::manual_seed(2);
  Vae vae(tiny());
  const auto dir = test::scratch_dir("vae-roundtrip");
  vae.save(dir);
  const auto back = Vae::load(dir);
  torch::InferenceMode guard;
  const auto z = torch::randn({1, 4, 2, 2});
  EXPECT_TRUE(test::same_to_rounding(vae.decode(z), back->decode(z)));
  EXPECT_NE(config_error({{"act_fn", "gelu"}}).find("act_fn"), std::string::npos);
  EXPECT_NE(config_error({{"block_out_channels", {8, 16}},
                          {"down_block_types", {"DownBlock2D", "DownBlock2D"}}})
                .find("DownEncoderBlock2D"),
            std::string::npos);
  EXPECT_NE(config_error({{"latents_mean", {0.1, 0.2}}}).find("latents_mean"), std::string::npos);
  EXPECT_NE(
      config_error({{"block_out_channels", {10}}, {"norm_num_groups", 4}}).find("not divisible"),
      std::string::npos);
  EXPECT_NE(config_error({{"scaling_factor", -1}}).find("scaling_factor"), std::string::npos);
  // 2^32 + 4 was read as 4 (nlohmann's get<int> keeps the low 32 bits).
  EXPECT_EQ(config_error({{"norm_num_groups", 4294967300LL}}),
            "VAE config field 'norm_num_groups' must be a positive integer, got 4294967300");
  EXPECT_EQ(config_error({{"block_out_channels", {8, -16}}}),
            "VAE config field 'block_out_channels' must hold positive integers, got [8,-16]");
}

// A loaded VAE's float32 parameters are its file's own bytes (adopt_module_tensors over
// map_tensors): they lie back to back in one span, as the file stores them, with no copy.
TEST(Vae, LoadedWeightsAreTheFilesOwnBytes) {
  torch::manual_seed(3);
  Vae vae(tiny());
  const auto dir = test::scratch_dir("vae-mapped");
  vae.save(dir);
  const auto back = Vae::load(dir);
  EXPECT_TRUE(test::lie_back_to_back(back->module().parameters()));
  const auto loaded = back->module().named_parameters();
  for (const auto& p : vae.module().named_parameters())
    EXPECT_TRUE(torch::equal(loaded[p.key()], p.value())) << p.key();
}

}  // namespace
}  // namespace asdm
