#pragma once
// The GPU tests' common set-up: skip cleanly (with the reason) where no CUDA device is, and
// compare in true fp32 (libtorch lets cuDNN and cuBLAS use TF32 by default).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/runtime.h"

namespace asdm::test {

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      ensure_device("cuda");
    } catch (const Error& e) {
      GTEST_SKIP() << e.what();
    }
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
};

}  // namespace asdm::test
