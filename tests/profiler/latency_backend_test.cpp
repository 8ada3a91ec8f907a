#include "profiler/latency_backend.h"

#include <gtest/gtest.h>

#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(LatencyBackend, UnknownNameIsOneClearError) {
  EXPECT_EQ(test::error_of([] { make_latency_backend("nsys", false); }),
            "unknown latency backend 'nsys' (known: timer, cuda-events, cupti)");
}

TEST(LatencyBackend, TimerOnTheCpuNeedsNoNote) {
  const BackendChoice c = make_latency_backend("timer", false);
  ASSERT_TRUE(c.backend);
  EXPECT_EQ(c.backend->name(), "timer");
  EXPECT_EQ(c.fallback_note, "");
}

TEST(LatencyBackend, CudaBackendsFallBackToTheTimerOnTheCpuWithOneLine) {
  for (const char* name : {"cuda-events", "cupti"}) {
    const BackendChoice c = make_latency_backend(name, false);
    ASSERT_TRUE(c.backend);
    EXPECT_EQ(c.backend->name(), "timer");
    EXPECT_EQ(
        c.fallback_note,
        std::string(name) +
            " backend needs a CUDA device; the model runs on the CPU, using the timer backend");
    EXPECT_EQ(c.fallback_note.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace asdm
