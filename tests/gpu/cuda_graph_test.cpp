// CUDA graphs (model/cuda_graph.h) on a device (skipped without one): a replay equals the eager
// forward for the teacher and for removal, CLME and GRI students, in fp32 and fp16, NCHW and
// channels-last, also after new values are copied into the static inputs; a profile with --graphs
// times every unit inside the graph and covers the replay; interleaved timing replays graphs.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "model/arch_spec.h"
#include "model/cuda_graph.h"
#include "model/unet.h"
#include "model/unet_config.h"
#include "profiler/profile.h"
#include "tests/gpu/cuda_test.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

using CudaGraphs = test::CudaTest;

ArchSpec tiny() {
  auto cfg = read_json_file(test::config_path("tiny"));
  cfg["transformer_layers_per_block"] = 2;
  return arch_from_config(parse_unet_config(cfg));
}

// The teacher and a removal, a CLME and a GRI student of it.
std::vector<std::pair<std::string, ArchSpec>> models() {
  std::vector<std::pair<std::string, ArchSpec>> out = {{"teacher", tiny()}};
  ArchSpec removal = tiny();
  for (const char* u : {"down_blocks.1.resnets.1", "down_blocks.2.resnets.1",
                        "up_blocks.1.resnets.0", "up_blocks.1.resnets.2", "mid_block.attentions.0"})
    removal.edits.push_back(Edit::remove(u));
  out.emplace_back("removal", removal);
  ArchSpec clme = removal;
  clme.edits.push_back(Edit::clme("down_blocks.2.resnets.0", {"down_blocks.2.resnets.1"}));
  clme.edits.push_back(
      Edit::clme("up_blocks.1.resnets.1", {"up_blocks.1.resnets.0", "up_blocks.1.resnets.2"}));
  out.emplace_back("clme", clme);
  ArchSpec gri = tiny();
  gri.edits.push_back(Edit::gri("down_blocks.0.attentions.0", 4, 2));
  gri.edits.push_back(Edit::gri("up_blocks.3.attentions.2", 4, 2));
  out.emplace_back("gri", gri);
  return out;
}

TEST_F(CudaGraphs, ReplayEqualsTheEagerForward) {
  for (const char* dtype : {"fp32", "fp16"})
    for (const bool nhwc : {false, true})
      for (const auto& [name, spec] : models()) {
        const bool fp32 = std::string(dtype) == "fp32";
        SCOPED_TRACE(std::string(name) + " " + dtype + (nhwc ? " channels-last" : ""));
        torch::manual_seed(0);
        UNet unet(spec);
        unet.to("cuda", dtype);
        unet.set_channels_last(nhwc);
        torch::InferenceMode guard;
        const auto opts = torch::TensorOptions()
                              .device(torch::kCUDA)
                              .dtype(fp32 ? torch::kFloat32 : torch::kFloat16);
        // 64x64 pixels: 8x8 latents, whose first level the GRI window of 4 divides.
        at::Tensor x = torch::randn({2, 4, 8, 8}, opts), h = torch::randn({2, 7, 32}, opts);
        at::Tensor t = torch::tensor({3, 900}, torch::TensorOptions().device(torch::kCUDA));
        at::Tensor out;
        CudaGraph graph("cuda");
        graph.capture([&] { out = unet.forward(x, t, h); });
        for (int round = 0; round < 2; ++round) {
          const at::Tensor eager = unet.forward(x, t, h).to(torch::kFloat32);
          graph.replay();
          torch::cuda::synchronize();
          const double scale = eager.abs().max().item<double>();
          const double diff = (out.to(torch::kFloat32) - eager).abs().max().item<double>();
          EXPECT_LE(diff, (fp32 ? 1e-6 : 2e-3) * scale) << "round " << round;
          // New values in the static inputs: the next replay follows them.
          x.copy_(torch::randn_like(x));
          h.copy_(torch::randn_like(h));
          t.copy_(torch::tensor({500, 20}, t.options()));
        }
      }
}

TEST_F(CudaGraphs, ProfileTimesEveryUnitInsideTheGraph) {
  UNet unet(tiny());
  unet.to("cuda", "fp16");
  ProfileOptions o;
  o.resolution = 256;
  o.batch = 2;
  o.runs = 5;
  o.warmup = 2;
  o.backend = "cuda-events";
  o.graphs = true;
  const ProfileReport r = profile_unet(unet, o);
  EXPECT_TRUE(r.graphs);
  EXPECT_EQ(r.backend, "cuda-events");
  ASSERT_EQ(r.units.size(), unet.layout().units.size());
  for (const auto& u : r.units) {
    EXPECT_EQ(u.inclusive_ms.n, 5) << u.id;
    EXPECT_GT(u.inclusive_ms.median, 0) << u.id;
  }
  EXPECT_GE(r.coverage, 0.98) << "in-graph unit events cover the replay";
  EXPECT_LE(r.coverage, 1.0 + 1e-6);
  EXPECT_GT(r.unobserved_ms.median, 0);
  // Asking for another backend with graphs is one line.
  o.backend = "cupti";
  EXPECT_EQ(test::error_of([&] { profile_unet(unet, o); }),
            "--graphs times units with CUDA events recorded inside the graph: use --backend "
            "cuda-events (the cupti backend joins kernels to units at launch, and a replay "
            "launches none)");
}

TEST_F(CudaGraphs, InterleavedTimingReplaysEveryModel) {
  std::vector<std::unique_ptr<UNet>> unets;
  std::vector<const UNet*> ptrs;
  for (const auto& [name, spec] : models()) {
    unets.push_back(std::make_unique<UNet>(spec));
    unets.back()->to("cuda", "fp16");
    ptrs.push_back(unets.back().get());
  }
  ProfileOptions o;
  o.resolution = 64;
  o.batch = 2;
  o.runs = 3;
  o.warmup = 1;
  o.graphs = true;
  const auto times = time_forwards_interleaved(ptrs, o);
  ASSERT_EQ(times.size(), ptrs.size());
  for (const auto& t : times) {
    EXPECT_EQ(t.n, 3);
    EXPECT_GT(t.median, 0);
  }
}

}  // namespace
}  // namespace asdm

namespace asdm {
namespace {

// A graphed function follows new input values and refuses other shapes with one line.
TEST_F(CudaGraphs, GraphedFunctionReplaysFixedShapes) {
  torch::InferenceMode guard;
  GraphedFunction f(
      "cuda", [](const std::vector<at::Tensor>& v) { return v[0] * 2 + v[1]; }, "a test");
  const auto opts = torch::TensorOptions().device(torch::kCUDA);
  const at::Tensor a = torch::randn({3, 4}, opts), b = torch::randn({3, 4}, opts);
  EXPECT_TRUE(torch::equal(f({a, b}), a * 2 + b));
  EXPECT_TRUE(torch::equal(f({b, a}), b * 2 + a));
  EXPECT_EQ(f.replays(), 2);
  EXPECT_EQ(test::error_of([&] {
              f({torch::randn({2, 4}, opts), b});
            }),
            "a test: the CUDA graph was captured for inputs float [3, 4], float [3, 4]; this call "
            "has float [2, 4], float [3, 4] (a graph replays fixed shapes)");
}

}  // namespace
}  // namespace asdm
