#include "profiler/peak_memory.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace asdm {
namespace {

constexpr int64_t kMiB = 1 << 20;

TEST(PeakMemory, CountsTheLiveTensorsOfItsScope) {
  at::Tensor before = torch::ones({1024, 1024});  // 4 MiB, allocated before: not counted
  PeakMemory m;
  {
    at::Tensor a = torch::empty({1024, 1024});  // 4 MiB
    at::Tensor b = torch::empty({512, 1024});   // + 2 MiB live at once
  }
  at::Tensor c = torch::empty({256, 1024});  // 1 MiB after both were freed
  EXPECT_GE(m.peak_bytes(), 6 * kMiB);
  EXPECT_LT(m.peak_bytes(), 6 * kMiB + 64 * 1024);
  EXPECT_GE(m.current_bytes(), 1 * kMiB);
  EXPECT_LT(m.current_bytes(), 1 * kMiB + 64 * 1024);
  before.reset();  // a free of memory the scope did not allocate changes nothing
  EXPECT_GE(m.current_bytes(), 1 * kMiB);
}

TEST(PeakMemory, SeesAnOperatorsOutputsAndTemporaries) {
  const at::Tensor x = torch::randn({64, 256});
  const at::Tensor w = torch::randn({256, 256});
  PeakMemory m;
  const at::Tensor y = torch::relu(torch::matmul(x, w));  // the matmul's output (64 KiB) and relu's
  EXPECT_GE(m.peak_bytes(), 2 * 64 * 256 * 4);
}

TEST(PeakMemory, StopsReportingWhenDestroyed) {
  int64_t peak = 0;
  {
    PeakMemory m;
    at::Tensor a = torch::empty({1024});
    peak = m.peak_bytes();
  }
  PeakMemory outer;
  { PeakMemory inner; }  // a nested one ends and hands reporting back
  at::Tensor b = torch::empty({1024, 256});
  EXPECT_GE(peak, 4096);
  EXPECT_GE(outer.peak_bytes(), 1024 * 256 * 4);
}

}  // namespace
}  // namespace asdm
