// The proxy pipeline folder: its scheduler_config.json (noise schedule, timestep_spacing,
// steps_offset, set_alpha_to_one) round-trips and is what generate() samples with, as the SD
// pipeline does; a bad value fails at load naming the file.
#include "proxy/pipeline.h"

#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "tests/test_env.h"

namespace asdm::proxy {
namespace {

void edit_scheduler(const std::filesystem::path& dir, const nlohmann::json& changes) {
  const auto path = dir / "scheduler" / "scheduler_config.json";
  nlohmann::json j = read_json_file(path);
  j.update(changes);
  std::ofstream(path) << j.dump(2);
}

TEST(ProxyPipeline, SamplesOnTheTimestepGridItsSchedulerConfigNames) {
  torch::set_num_threads(1);
  ProxyPipeline p = ProxyPipeline::create(world_spec("test"), 4);
  const auto dir = test::scratch_dir("proxy_pipeline_grid");
  p.save(dir);
  {
    const ProxyPipeline leading = ProxyPipeline::load(dir);  // SD 1.x's DDIM grid by default
    EXPECT_EQ(leading.scheduler.spacing, "leading");
    EXPECT_EQ(leading.scheduler.steps_offset, 1);
    EXPECT_FALSE(leading.scheduler.final_alpha_one);
  }
  edit_scheduler(
      dir, {{"timestep_spacing", "trailing"}, {"steps_offset", 0}, {"set_alpha_to_one", true}});
  const ProxyPipeline trailing = ProxyPipeline::load(dir);
  EXPECT_EQ(trailing.scheduler.spacing, "trailing");
  EXPECT_EQ(trailing.scheduler.steps_offset, 0);
  EXPECT_TRUE(trailing.scheduler.final_alpha_one);

  SamplerOptions so;
  so.steps = 3;
  const SamplerOptions applied = with_scheduler(so, trailing.scheduler);
  EXPECT_EQ(applied.spacing, "trailing");
  EXPECT_EQ(applied.steps_offset, 0);
  EXPECT_TRUE(applied.final_alpha_one);
  EXPECT_EQ(applied.prediction, trailing.scheduler.prediction);
  EXPECT_EQ(applied.steps, 3);

  // generate() samples on that grid: the in-memory pipeline given the same settings makes the same
  // images, and its SD 1.x default grid other ones.
  const std::vector<std::string> captions = {"a red circle at the top left"};
  const auto from_folder = trailing.generate(captions, 7, so);
  const auto before = p.generate(captions, 7, so);
  p.scheduler.spacing = "trailing";
  p.scheduler.steps_offset = 0;
  p.scheduler.final_alpha_one = true;
  EXPECT_EQ(p.generate(captions, 7, so), from_folder);
  EXPECT_NE(before, from_folder);

  // Saving keeps the settings.
  const auto again = test::scratch_dir("proxy_pipeline_grid_again");
  trailing.save(again);
  EXPECT_EQ(ProxyPipeline::load(again).scheduler.spacing, "trailing");
  // ... and the noise schedule it was loaded with, not SD's.
  edit_scheduler(again, {{"beta_schedule", "linear"}, {"beta_start", 0.0001}, {"beta_end", 0.02}});
  const ProxyPipeline linear = ProxyPipeline::load(again);
  const auto resaved = test::scratch_dir("proxy_pipeline_grid_linear");
  linear.save(resaved);
  const NoiseSchedule kept = ProxyPipeline::load(resaved).scheduler.schedule;
  EXPECT_EQ(kept.kind, "linear");
  EXPECT_EQ(kept.betas, NoiseSchedule::make("linear", 1000, 0.0001, 0.02).betas);

  edit_scheduler(dir, {{"timestep_spacing", "sideways"}});
  const std::string err = test::error_of([&] { ProxyPipeline::load(dir); });
  EXPECT_NE(err.find("scheduler_config.json"), std::string::npos) << err;
  EXPECT_NE(err.find("sideways"), std::string::npos) << err;
}

}  // namespace
}  // namespace asdm::proxy
