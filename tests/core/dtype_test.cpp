// The one dtype vocabulary: both spellings of each dtype, names back, and the error for others.
#include "core/dtype.h"

#include <tuple>

#include <gtest/gtest.h>

#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(DType, BothSpellingsParseAndNameBack) {
  for (const auto& [long_name, short_form, d] :
       {std::tuple{"float32", "fp32", DType::kFloat32},
        std::tuple{"float16", "fp16", DType::kFloat16},
        std::tuple{"bfloat16", "bf16", DType::kBFloat16}}) {
    EXPECT_EQ(parse_dtype(long_name), d);
    EXPECT_EQ(parse_dtype(short_form), d);
    EXPECT_EQ(to_string(d), long_name);
    EXPECT_EQ(short_name(d), short_form);
  }
  EXPECT_EQ(dtype_names().size(), 6u);
}

TEST(DType, UnknownNamesSayWhatIsKnown) {
  EXPECT_EQ(test::error_of([] { parse_dtype("fp8"); }),
            "unknown dtype 'fp8' (known: float32, float16, bfloat16; or fp32, fp16, bf16)");
  EXPECT_EQ(test::error_of([] { parse_dtype(""); }),
            "unknown dtype '' (known: float32, float16, bfloat16; or fp32, fp16, bf16)");
}

}  // namespace
}  // namespace asdm
