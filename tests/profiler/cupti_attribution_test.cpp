// CUPTI attribution on synthetic activity records: no GPU needed.
#include "profiler/cupti_attribution.h"

#include <gtest/gtest.h>

#include "tests/test_env.h"

namespace asdm {
namespace {

using Kind = ActivityRecord::Kind;

const UnitSample& find(const ForwardRecord& r, const std::string& id) {
  for (const auto& u : r.units)
    if (u.id == id) return u;
  throw std::runtime_error("no unit " + id);
}

TEST(UnionLength, MergesOverlapsInAnyOrder) {
  EXPECT_EQ(union_length({}), 0u);
  EXPECT_EQ(union_length({{10, 20}}), 10u);
  EXPECT_EQ(union_length({{30, 40}, {10, 20}, {15, 25}}), 25u);  // [10,25) + [30,40)
  EXPECT_EQ(union_length({{10, 50}, {20, 30}}), 40u);            // contained
  EXPECT_EQ(union_length({{10, 20}, {20, 30}}), 20u);            // touching
  EXPECT_EQ(union_length({{10, 10}, {5, 3}}), 0u);               // empty and inverted ignored
}

TEST(LaunchesDeviceWork, PicksLaunchesCopiesAndSetsByCallbackName) {
  // Names as CUPTI 13's cuptiGetCallbackName gives them (runtime and driver domains).
  for (const char* n :
       {"cudaLaunchKernel_v7000", "cudaLaunchKernelExC_v11060", "__cudaLaunchKernel_v13000",
        "cudaMemcpyAsync_v3020", "cudaMemsetAsync_ptsz_v7000", "cudaGraphLaunch_v10000",
        "cuLaunchKernel", "cuLaunchKernelEx_ptsz", "cuMemcpyHtoDAsync_v2", "cuMemsetD32Async",
        "cuMemcpyBatchAsync_v2"})
    EXPECT_TRUE(launches_device_work(n)) << n;
  for (const char* n :
       {"cudaGetDevice_v3020", "cudaGetLastError_v3020", "cudaStreamSynchronize_v3020",
        "cudaEventRecord_v3020", "cuCtxGetCurrent", "cuMemAlloc_v2", "cuStreamGetCaptureInfo", ""})
    EXPECT_FALSE(launches_device_work(n)) << n;
}

// A Transformer2D unit (ext 1) with two nested transformer blocks (ext 2, 3), after conv_in (ext
// 4).
struct Nested {
  std::vector<RangeRecord> ranges = {
      {4, "conv_in", 0, 0, 100},
      {1, "down_blocks.0.attentions.0", 0, 100, 1000},
      {2, "down_blocks.0.attentions.0.transformer_blocks.0", 1, 200, 500},
      {3, "down_blocks.0.attentions.0.transformer_blocks.1", 1, 500, 900},
  };
  std::vector<ExternalCorrelation> corr = {{10, 4}, {11, 1}, {12, 2}, {13, 2}, {14, 3}, {15, 1}};
  std::vector<ActivityRecord> acts = {
      {Kind::kKernel, 10, 7, 1000, 1100, "conv"},      // conv_in: 100
      {Kind::kKernel, 11, 7, 1100, 1150, "norm"},      // attention self: 50
      {Kind::kKernel, 12, 7, 1150, 1350, "gemm"},      // block 0: 200
      {Kind::kMemset, 13, 7, 1350, 1360, "memset"},    // block 0: 10
      {Kind::kKernel, 14, 7, 1360, 1660, "gemm"},      // block 1: 300
      {Kind::kKernel, 15, 7, 1660, 1700, "proj_out"},  // attention self: 40
  };
};

TEST(CuptiAttribution, NestedRangesRollUpAndKeepSelfTime) {
  Nested n;
  const ForwardRecord r = attribute_activity(n.ranges, n.corr, n.acts, 0, 0);
  ASSERT_EQ(r.units.size(), 4u);
  // Exit order, children before their parent.
  EXPECT_EQ(r.units[0].id, "conv_in");
  EXPECT_EQ(r.units[1].id, "down_blocks.0.attentions.0.transformer_blocks.0");
  EXPECT_EQ(r.units[3].id, "down_blocks.0.attentions.0");
  const auto& attn = find(r, "down_blocks.0.attentions.0");
  EXPECT_DOUBLE_EQ(attn.inclusive_ms, 600e-6);
  EXPECT_DOUBLE_EQ(attn.exclusive_ms, 90e-6);
  EXPECT_DOUBLE_EQ(attn.kernel_sum_ms, 600e-6);
  EXPECT_EQ(attn.kernel_count, 5);
  EXPECT_EQ(attn.depth, 0);
  EXPECT_DOUBLE_EQ(attn.span_ms, 900e-6);
  const auto& b0 = find(r, "down_blocks.0.attentions.0.transformer_blocks.0");
  EXPECT_DOUBLE_EQ(b0.inclusive_ms, 210e-6);
  EXPECT_DOUBLE_EQ(b0.exclusive_ms, 210e-6);
  EXPECT_EQ(b0.kernel_count, 2);
  EXPECT_EQ(b0.depth, 1);
  ASSERT_EQ(b0.top_kernels.size(), 2u);
  EXPECT_EQ(b0.top_kernels[0].name, "gemm");
  EXPECT_EQ(b0.top_kernels[0].count, 1);
  EXPECT_DOUBLE_EQ(find(r, "conv_in").inclusive_ms, 100e-6);
  EXPECT_DOUBLE_EQ(r.device_total_ms, 700e-6);
  EXPECT_DOUBLE_EQ(r.device_attributed_ms, 700e-6);
  EXPECT_EQ(r.activities, 6);
  EXPECT_EQ(r.unattributed, 0);
  ASSERT_EQ(r.device.size(), 6u);
  EXPECT_EQ(r.device[2].unit, "down_blocks.0.attentions.0.transformer_blocks.0");
  // Self times of all units add up to the attributed device time when nothing overlaps.
  double self = 0;
  for (const auto& u : r.units) self += u.exclusive_ms;
  EXPECT_NEAR(self, r.device_attributed_ms, 1e-12);
}

TEST(CuptiAttribution, KernelsOnSeveralStreamsCountOnceInBusyTime) {
  std::vector<RangeRecord> ranges = {{1, "mid_block.attentions.0", 0, 0, 100}};
  std::vector<ExternalCorrelation> corr = {{1, 1}, {2, 1}, {3, 1}};
  std::vector<ActivityRecord> acts = {
      {Kind::kKernel, 1, 7, 0, 100, "a"},    // stream 7
      {Kind::kKernel, 2, 13, 50, 150, "b"},  // stream 13, overlaps a by 50
      {Kind::kMemcpy, 3, 14, 300, 320, "copy"},
  };
  const ForwardRecord r = attribute_activity(ranges, corr, acts, 0, 0);
  const auto& u = find(r, "mid_block.attentions.0");
  EXPECT_DOUBLE_EQ(u.inclusive_ms, 170e-6);    // union: [0,150) + [300,320)
  EXPECT_DOUBLE_EQ(u.kernel_sum_ms, 220e-6);   // sum of durations
  EXPECT_DOUBLE_EQ(u.device_span_ms, 320e-6);  // first start to last end, idle gap included
  EXPECT_EQ(u.kernel_count, 3);
  std::set<uint32_t> streams;
  for (const auto& d : r.device) streams.insert(d.stream);
  EXPECT_EQ(streams, (std::set<uint32_t>{7, 13, 14}));
}

TEST(CuptiAttribution, RecordsArrivingAfterTheirRangeClosedAreStillJoined) {
  // The GPU runs behind the host: unit A's kernel starts after A (and B) closed on the host, and
  // its records (the kernel, then its correlation) come last, as from a later buffer.
  std::vector<RangeRecord> ranges = {{1, "A", 0, 0, 10}, {2, "B", 0, 10, 20}};
  std::vector<ExternalCorrelation> corr = {{200, 2}};
  std::vector<ActivityRecord> acts = {{Kind::kKernel, 200, 7, 5000, 5100, "b"}};
  acts.push_back({Kind::kKernel, 100, 7, 4000, 4500, "a"});
  corr.push_back({100, 1});
  const ForwardRecord r = attribute_activity(ranges, corr, acts, 0, 0);
  EXPECT_DOUBLE_EQ(find(r, "A").inclusive_ms, 500e-6);
  EXPECT_DOUBLE_EQ(find(r, "B").inclusive_ms, 100e-6);
  EXPECT_EQ(r.unattributed, 0);
}

TEST(CuptiAttribution, UnattributedAndDroppedRecordsAreCountedAndReported) {
  Nested n;
  n.acts.push_back({Kind::kKernel, 99, 7, 2000, 2300, "outside every unit"});  // no correlation
  n.corr.push_back({98, 12345});  // a correlation to an id that is not a unit range: ignored
  n.acts.push_back({Kind::kKernel, 98, 7, 2300, 2400, "foreign id"});
  const ForwardRecord r = attribute_activity(n.ranges, n.corr, n.acts, 3, 500);
  EXPECT_EQ(r.dropped, 3);
  EXPECT_EQ(r.unattributed, 2);
  EXPECT_EQ(r.activities, 8);
  EXPECT_DOUBLE_EQ(r.device_total_ms, 1100e-6);
  EXPECT_DOUBLE_EQ(r.device_attributed_ms, 700e-6);
  EXPECT_EQ(r.device.back().unit, "");
  EXPECT_DOUBLE_EQ(r.device.front().start_ms, 500e-6);  // relative to the origin
  EXPECT_DOUBLE_EQ(find(r, "conv_in").start_ms, -500e-6);
}

TEST(CuptiAttribution, RejectsInconsistentRanges) {
  // The profiler makes these ranges itself, so a bad one is an internal error, not the user's.
  EXPECT_THROW(attribute_activity({{1, "a", 0, 0, 1}, {1, "b", 0, 1, 2}}, {}, {}, 0, 0),
               InternalError);
  EXPECT_THROW(attribute_activity({{0, "a", 0, 0, 1}}, {}, {}, 0, 0), InternalError);
  // A child whose parent range is unknown: reported once a record needs the roll-up.
  EXPECT_THROW(attribute_activity({{2, "child", 7, 0, 1}}, {{1, 2}},
                                  {{Kind::kKernel, 1, 0, 0, 1, "k"}}, 0, 0),
               InternalError);
}

}  // namespace
}  // namespace asdm
