// CUDA graphs where there can be none (the GPU side is tests/gpu/cuda_graph_test.cpp): asking for
// them on the CPU, or on a device that is not one, is one line saying why.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/cuda_graph.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(CudaGraph, NeedsACudaDevice) {
  EXPECT_EQ(test::error_of([] { require_graphs("cpu"); }),
            "--graphs needs a CUDA device (--device cuda): CUDA graphs hold GPU work; on the cpu "
            "every forward runs eagerly");
  EXPECT_EQ(test::error_of([] { require_graphs("tpu", "x"); }),
            "unknown device 'tpu' (known: cpu, cuda, cuda:N)");
  EXPECT_EQ(test::error_of([] { CudaGraph g("cpu"); }),
            "a CUDA graph needs a CUDA device (--device cuda): CUDA graphs hold GPU work; on the "
            "cpu every forward runs eagerly");
  EXPECT_EQ(test::error_of([] {
              GraphedFunction f(
                  "cpu", [](const std::vector<at::Tensor>& v) { return v[0]; },
                  "generate --graphs");
            }),
            "generate --graphs needs a CUDA device (--device cuda): CUDA graphs hold GPU work; on "
            "the cpu every forward runs eagerly");
}

}  // namespace
}  // namespace asdm
