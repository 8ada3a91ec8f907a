#include "profiler/unit_timer.h"

#include <ATen/core/Tensor.h>
#include <gtest/gtest.h>

namespace asdm {
namespace {

// A fake clock that advances by the scripted amounts, so times are exact.
TEST(UnitTimer, ExclusiveTimeSubtractsNestedUnits) {
  double now = 100;
  UnitTimer t([&] { return now; });
  UnitInfo attn, b0, b1, res;
  attn.id = "a";
  b0.id = "a.transformer_blocks.0";
  b1.id = "a.transformer_blocks.1";
  res.id = "r";
  const at::Tensor none;  // the timer never looks at outputs
  t.begin_forward();
  t.on_enter(res);
  now += 2;
  t.on_exit(res, none);
  t.on_enter(attn);
  now += 1;
  t.on_enter(b0);
  now += 3;
  t.on_exit(b0, none);
  t.on_enter(b1);
  now += 4;
  t.on_exit(b1, none);
  now += 0.5;
  t.on_exit(attn, none);
  ASSERT_EQ(t.samples().size(), 4u);
  const auto& a = t.samples().back();
  EXPECT_EQ(a.id, "a");
  EXPECT_DOUBLE_EQ(a.inclusive_ms, 8.5);
  EXPECT_DOUBLE_EQ(a.exclusive_ms, 1.5);
  EXPECT_DOUBLE_EQ(a.start_ms, 2);
  EXPECT_EQ(t.samples()[1].depth, 1);
  double excl = 0;
  for (const auto& s : t.samples()) excl += s.exclusive_ms;
  EXPECT_DOUBLE_EQ(excl,
                   10.5);  // the sum of exclusive times is the time covered by top-level units
}

}  // namespace
}  // namespace asdm
