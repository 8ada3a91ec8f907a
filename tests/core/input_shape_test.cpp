#include "core/input_shape.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace asdm {
namespace {

TEST(InputShape, SquareAndText) {
  const InputShape s = InputShape::square(16, 8, 8, 16);
  EXPECT_EQ(s.resolution, 128);
  EXPECT_EQ(s.latent_height, 16);
  EXPECT_EQ(s.latent_width, 16);
  EXPECT_EQ(s.text(), "batch 8, 128² (latent 16x16), 16 text tokens");
  InputShape unknown = s;
  unknown.resolution = 0;
  unknown.latent_height = unknown.latent_width = 0;
  EXPECT_EQ(unknown.text(), "batch 8, 16 text tokens");
}

TEST(InputShape, JsonRoundTripAndOlderWriters) {
  const InputShape s = InputShape::square(8, 2, 3, 4);
  EXPECT_EQ(input_shape_from_json(to_json(s)), s);
  // candidates.json before the shared struct: no latent sides.
  const InputShape old =
      input_shape_from_json(nlohmann::json{{"resolution", 512}, {"batch", 2}, {"text_tokens", 77}});
  EXPECT_EQ(old.resolution, 512);
  EXPECT_EQ(old.latent_height, 0);
  EXPECT_EQ(old.text(), "batch 2, 512², 77 text tokens");
  EXPECT_THROW(input_shape_from_json(nlohmann::json{{"resolution", 512}}),
               nlohmann::json::exception);
}

}  // namespace
}  // namespace asdm
