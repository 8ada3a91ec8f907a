#pragma once
// Subjects for the analysis tests: a randomly initialised proxy pipeline of the test world (8x8x12
// latents, widths 16/32/32/32) saved to a scratch folder, with a prompt file, and small options.
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "analysis/ablation.h"
#include "model/unet.h"
#include "proxy/pipeline.h"
#include "proxy/world.h"
#include "tests/artifact_compare.h"
#include "tests/test_env.h"

namespace asdm::test {

struct ProxyFixture {
  std::filesystem::path pipeline, prompts, dir;
};

// `edit` may change the UNet's weights before it is saved.
inline ProxyFixture make_proxy_fixture(const std::string& name,
                                       const std::function<void(UNet&)>& edit = {},
                                       int prompts = 6) {
  ProxyFixture f;
  f.dir = scratch_dir(name);
  f.pipeline = f.dir / "pipeline";
  f.prompts = f.dir / "prompts.txt";
  auto p = proxy::ProxyPipeline::create(proxy::world_spec("test"), 5);
  if (edit) edit(*p.unet);
  p.save(f.pipeline);
  std::ofstream out(f.prompts);
  for (const auto& c : proxy::prompt_set(p.world, 1001, prompts)) out << c << "\n";
  return f;
}

// Multiplies the named parameters (diffusers keys) by `factor` (0 zeroes them).
inline void scale_parameters(UNet& unet, const std::vector<std::string>& keys, double factor) {
  torch::NoGradGuard guard;
  auto params = unet.module().named_parameters();
  for (const auto& k : keys) {
    ASSERT_TRUE(params.contains(k)) << k;
    params[k].mul_(factor);
  }
}

inline AblationOptions small_options() {
  AblationOptions o;
  o.sampler.steps = 4;
  o.sampler.guidance = 1.0;
  o.timesteps = 2;
  o.batch = 4;
  o.bootstrap = 200;
  return o;
}

}  // namespace asdm::test
