// BK-SDM presets against the published figures (thop's counting rule, SD 1.x at 512x512).
#include "pruner/presets.h"

#include <gtest/gtest.h>

#include "model/model_files.h"
#include "model/unet_config.h"
#include "profiler/cost_model.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

CostReport cost(const ArchSpec& spec) {
  InputShape in;  // 64x64 latent (512x512), batch 1, 77 tokens
  return estimate_cost(spec.student_layout(), spec.removed_units(), in);
}

TEST(BkSdmPresets, BaseHasThePublishedParamsAndMacs) {
  const ArchSpec teacher = load_arch(locate_model(test::config_path("sd15")));
  const CostReport base = cost(bk_sdm_preset(teacher.teacher, "base"));
  EXPECT_EQ(base.params, 579'384'964);
  EXPECT_EQ(base.macs, 223'755'632'640);
  // Small drops the mid block too, Tiny the innermost stage as well (0.48 B and 0.32 B parameters).
  EXPECT_EQ(cost(bk_sdm_preset(teacher.teacher, "small")).params, 482'346'884);
  EXPECT_EQ(cost(bk_sdm_preset(teacher.teacher, "tiny")).params, 323'384'964);
  for (const auto& name : bk_sdm_preset_names())
    EXPECT_TRUE(bk_sdm_preset(teacher.teacher, name).diffusers_expressible()) << name;
  EXPECT_EQ(test::error_of([&] { bk_sdm_preset(teacher.teacher, "micro"); }),
            "unknown BK-SDM preset 'micro' (known: base, small, tiny)");
}

}  // namespace
}  // namespace asdm
