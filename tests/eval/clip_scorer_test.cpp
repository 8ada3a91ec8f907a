// CLIP folder configs (eval/clip_scorer.h) that cannot be built are one line naming the field,
// before any weights are read. Scores against torchmetrics and open_clip are in tests/reference.
#include "eval/clip_scorer.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

using nlohmann::json;

// The error loading a folder holding `config` as `file`, with the folder's path written "<dir>".
std::string load_error(const std::string& name, const std::string& file, const json& config) {
  const auto dir = test::scratch_dir("clip_scorer_" + name);
  write_json_atomic(dir / file, config);
  std::string e = test::error_of([&] { ClipScorer::load(dir); });
  if (const auto at = e.find(dir.string()); at != std::string::npos)
    e.replace(at, dir.string().size(), "<dir>");
  return e;
}

json open_clip(const json& vision) {
  return {{"model_cfg", {{"embed_dim", 32}, {"vision_cfg", vision}, {"text_cfg", json::object()}}}};
}

TEST(ClipScorerConfig, SizesAreCheckedBeforeWeights) {
  // A head width of 0 divided the width by zero.
  EXPECT_EQ(load_error("zero_head", "open_clip_config.json",
                       open_clip({{"width", 64}, {"layers", 1}, {"head_width", 0}})),
            "<dir>/open_clip_config.json: field 'head_width' must be a positive integer, got 0");
  EXPECT_EQ(load_error("odd_head", "open_clip_config.json",
                       open_clip({{"width", 64}, {"layers", 1}, {"head_width", 48}})),
            "<dir>/open_clip_config.json: vision width 64 is not divisible by head_width 48");
  EXPECT_EQ(
      load_error("big_layers", "open_clip_config.json",
                 open_clip({{"width", 64}, {"layers", 4294967298LL}})),
      "<dir>/open_clip_config.json: field 'layers' must be a positive integer, got 4294967298");
  const json transformers = {{"vision_config", {{"hidden_size", 64}, {"num_attention_heads", -2}}},
                             {"text_config", json::object()}};
  EXPECT_EQ(load_error("negative_heads", "config.json", transformers),
            "<dir>/config.json: field 'num_attention_heads' must be a positive integer, got -2");
}

}  // namespace
}  // namespace asdm
