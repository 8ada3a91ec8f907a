// asdm init: a random pipeline of the tiny config loads in asdm and generates finite images; the
// SD 1.5 components have their published sizes; SDXL's and SD 2.x's encoders are the right ones;
// an existing output is refused. diffusers' side: tests/sd/init_diffusers_check.py.
#include "sd/init_pipeline.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/arch_spec.h"
#include "model/unet_config.h"
#include "profiler/cost_model.h"
#include "sd/sd_pipeline.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

int64_t params(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

TEST(InitPipeline, TinyPipelineLoadsAndGenerates) {
  torch::set_num_threads(1);
  const auto dir = test::scratch_dir("init_tiny") / "pipe";
  InitOptions o;
  o.config = test::config_path("tiny").string();
  o.output = dir.string();
  o.seed = 3;
  o.check_steps = 3;
  const InitResult r = init_pipeline(o);
  EXPECT_EQ(r.family, "SD 1.x-like (tiny)");
  EXPECT_GT(r.check_max_abs, 0);
  for (const char* f :
       {"model_index.json", "unet/config.json", "vae/config.json", "text_encoder/model.safetensors",
        "tokenizer/vocab.json", "tokenizer/merges.txt", "scheduler/scheduler_config.json"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  auto pipe = SdPipeline::load(dir, "cpu", "float32");
  GenerateOptions g;
  g.prompts = {"a red circle", "a blue square"};
  g.steps = 2;
  g.height = g.width = 64;
  torch::InferenceMode guard;
  const GenerateResult gr = pipe->generate(g);
  EXPECT_EQ(gr.images.sizes(), (std::vector<int64_t>{2, 3, 64, 64}));
  EXPECT_TRUE(torch::isfinite(gr.latents).all().item<bool>());
  // The same seed gives the same weights; an existing folder is refused.
  EXPECT_EQ(test::error_of([&] { init_pipeline(o); }),
            dir.string() + " exists; give a new output folder");
}

TEST(InitPipeline, Sd15PartsHaveTheirPublishedSizes) {
  const PipelinePlan p = plan_pipeline(load_unet_config(test::config_path("sd15")), "sd15");
  EXPECT_EQ(p.family, "SD 1.x");
  EXPECT_EQ(estimate_cost(arch_from_config(p.unet), InputShape{}).params, 859'520'964);
  EXPECT_EQ(params(Vae(p.vae).module()), 83'653'863);
  EXPECT_EQ(params(ClipTextModel(p.text_encoder).module()), 123'060'480);
  EXPECT_FALSE(p.text_encoder_2.has_value());
}

TEST(InitPipeline, Sd2AndSdxlGetTheirEncoders) {
  const PipelinePlan sd2 = plan_pipeline(load_unet_config(test::config_path("sd21")), "sd21");
  EXPECT_EQ(sd2.family, "SD 2.x");
  EXPECT_EQ(sd2.text_encoder.num_hidden_layers, 23);  // OpenCLIP ViT-H/14, penultimate layer
  EXPECT_EQ(sd2.text_encoder.hidden_act, "gelu");
  const PipelinePlan xl = plan_pipeline(load_unet_config(test::config_path("sdxl")), "sdxl");
  EXPECT_EQ(xl.family, "SDXL");
  EXPECT_EQ(xl.text_encoder.hidden_size, 768);
  ASSERT_TRUE(xl.text_encoder_2.has_value());
  EXPECT_EQ(xl.text_encoder_2->hidden_size, 1280);
  EXPECT_EQ(xl.text_encoder_2->num_hidden_layers, 32);
  EXPECT_EQ(xl.text_encoder_2->projection_dim, 1280);
  EXPECT_DOUBLE_EQ(xl.vae.scaling_factor, 0.13025);
}

}  // namespace
}  // namespace asdm
