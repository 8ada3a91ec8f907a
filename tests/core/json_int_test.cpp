#include "core/json_int.h"

#include <cstdint>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace asdm {
namespace {

using nlohmann::json;

TEST(JsonInt, OnlyIntegersAnIntHoldsWithinTheBounds) {
  EXPECT_EQ(json_int(json(7)), 7);
  EXPECT_EQ(json_int(json(-7)), -7);
  EXPECT_EQ(json_int(json(INT32_MIN)), INT32_MIN);
  EXPECT_EQ(json_int(json(INT32_MAX)), INT32_MAX);
  EXPECT_EQ(json_int(json::parse("4294967298")), std::nullopt);  // get<int>() says 2
  EXPECT_EQ(json_int(json::parse("-4294967298")), std::nullopt);
  EXPECT_EQ(json_int(json::parse("18446744073709551615")), std::nullopt);
  EXPECT_EQ(json_int(json(2.0)), std::nullopt);
  EXPECT_EQ(json_int(json("2")), std::nullopt);
  EXPECT_EQ(json_int(json(nullptr)), std::nullopt);
  EXPECT_EQ(json_int(json(0), 1), std::nullopt);
  EXPECT_EQ(json_int(json(5), 1, 4), std::nullopt);
  EXPECT_EQ(json_int(json(4), 1, 4), 4);
  EXPECT_EQ(json_int(json(3), -10, -1), std::nullopt);  // an unsigned value against a negative top
}

}  // namespace
}  // namespace asdm
