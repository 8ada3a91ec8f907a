// The text encoder's config.json reading (sd/clip_text.h): transformers' fields, and one line
// naming the field for a value asdm cannot build.
#include "sd/clip_text.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/test_env.h"

namespace asdm {
namespace {

using nlohmann::json;

std::string config_error(const json& j) {
  return test::error_of([&] { parse_clip_text_config(j); });
}

TEST(ClipTextConfig, ReadsTransformersFieldsAndRoundTrips) {
  const json j = {{"architectures", {"CLIPTextModelWithProjection"}},
                  {"hidden_size", 64},
                  {"num_attention_heads", 4},
                  {"num_hidden_layers", 2},
                  {"hidden_act", "gelu"},
                  {"eos_token_id", 49407},
                  {"projection_dim", 32}};
  const ClipTextConfig c = parse_clip_text_config(j);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.hidden_act, "gelu");
  EXPECT_EQ(c.eos_token_id, 49407);
  EXPECT_EQ(c.projection_dim, 32);
  EXPECT_EQ(c.vocab_size, 49408);  // transformers' default where the file is silent
  const ClipTextConfig back = parse_clip_text_config(to_json(c));
  EXPECT_EQ(to_json(back), to_json(c));
}

TEST(ClipTextConfig, BadValuesNameTheField) {
  // 2^32 + 2 was read as 2 (nlohmann's get<int> keeps the low 32 bits).
  EXPECT_EQ(config_error({{"num_hidden_layers", 4294967298LL}}),
            "text encoder config field 'num_hidden_layers' must be a positive integer, got "
            "4294967298");
  EXPECT_EQ(config_error({{"hidden_size", 0}}),
            "text encoder config field 'hidden_size' must be a positive integer, got 0");
  EXPECT_EQ(config_error({{"hidden_act", 3}}),
            "text encoder config field 'hidden_act' must be a string, got 3");
  EXPECT_EQ(config_error({{"hidden_act", "relu"}}),
            "text encoder config field 'hidden_act' = \"relu\" is not supported (asdm implements "
            "quick_gelu, gelu)");
  EXPECT_EQ(config_error({{"layer_norm_eps", "small"}}),
            "text encoder config field 'layer_norm_eps' must be a number >= 0, got \"small\"");
  EXPECT_EQ(config_error({{"eos_token_id", -1}}),
            "text encoder config field 'eos_token_id' must be a token id, got -1");
  EXPECT_EQ(config_error({{"hidden_size", 30}, {"num_attention_heads", 4}}),
            "text encoder hidden_size 30 is not divisible by num_attention_heads 4");
}

}  // namespace
}  // namespace asdm
