// A whole Stable Diffusion pipeline on a CUDA device: the tiny pipeline's images match the CPU's in
// fp32, fp16 stays close, and the pipeline profile synchronises the device at stage boundaries.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "profiler/pipeline_profile.h"
#include "sd/sd_pipeline.h"
#include "tests/gpu/cuda_test.h"
#include "tests/tiny_pipeline.h"

namespace asdm {
namespace {

using CudaPipeline = test::CudaTest;

TEST_F(CudaPipeline, ImagesMatchTheCpuAndStagesAreTimed) {
  const auto dir = test::scratch_dir("sd-pipeline-cuda");
  test::write_tiny_pipeline(dir, "EulerDiscreteScheduler");
  GenerateOptions o;
  o.prompts = {"the red", "a cat"};
  o.steps = 4;
  o.seed = 3;
  torch::InferenceMode guard;
  const auto cpu = SdPipeline::load(dir)->generate(o).images;
  const auto gpu = SdPipeline::load(dir, "cuda")->generate(o).images;
  EXPECT_LE((gpu - cpu).abs().max().item<double>(), 1e-3);
  const auto half = SdPipeline::load(dir, "cuda", "float16")->generate(o).images;
  EXPECT_LE((half - cpu).abs().mean().item<double>(), 0.02);
  // CUDA graphs: the whole step (Euler's arithmetic included) replayed gives the eager images
  // (fp32), and the graph is kept for a second call with the same shapes.
  const auto pipe = SdPipeline::load(dir, "cuda");
  GenerateOptions g = o;
  g.graphs = true;
  EXPECT_LE((pipe->generate(g).images - gpu).abs().max().item<double>(), 1e-5);
  EXPECT_LE((pipe->generate(g).images - gpu).abs().max().item<double>(), 1e-5);
  // The other samplers' whole steps (DPM-Solver++'s first- and second-order steps in one graph),
  // and PNDM's model call alone; each against its own eager run, latents within 1e-6 relative.
  for (const char* sampler : {"ddim", "dpm++2m", "pndm"}) {
    GenerateOptions eager = o;
    eager.sampler = sampler;
    g.sampler = sampler;
    const auto want = pipe->generate(eager).latents;
    const auto got = pipe->generate(g).latents;
    EXPECT_LE((got - want).abs().max().item<double>(),
              1e-6 * want.abs().max().item<double>() + 1e-7)
        << sampler;
  }
  PipelineProfileOptions po;
  po.generate = o;
  po.runs = 2;
  const auto p = profile_pipeline(*SdPipeline::load(dir, "cuda"), po);
  EXPECT_EQ(p.unet_call_ms.n, 8);
  EXPECT_GT(p.unet_ms.median, 0);
  EXPECT_LE(p.text_encoder_ms.median + p.unet_ms.median + p.vae_ms.median, p.total_ms.p90 * 1.001);
  po.generate.graphs = true;
  const auto pg = profile_pipeline(*pipe, po);
  EXPECT_TRUE(pg.graphs);
  EXPECT_EQ(pg.unet_call_ms.n, 8);
}

}  // namespace
}  // namespace asdm
