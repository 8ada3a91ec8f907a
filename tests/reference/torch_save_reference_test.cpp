// asdm's torch.save reader (model/torch_save.h) on the files torch writes
// (make_torch_save_cases.py): every pickle protocol, the legacy format, every dtype, views,
// parameters, a tensor subclass, a module's state dict, a training-checkpoint wrapper, fp8 and
// unsigned dtypes in an untyped storage. Each case
// gives the tensors torch.load gives, dtype, shape and values.
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/tensor_io.h"
#include "model/torch_save.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(TorchSaveReference, EveryCaseGivesTorchsTensors) {
  const auto dir = test::binary_dir() / "reference" / "torch_save";
  const TensorMap expected = read_tensors(dir / "expected.safetensors");
  std::map<std::string, std::set<std::string>> cases;
  for (const auto& [key, t] : expected)
    cases[key.substr(0, key.find('/'))].insert(key.substr(key.find('/') + 1));
  ASSERT_EQ(cases.size(), 9u);
  for (const auto& [name, tensors] : cases) {
    SCOPED_TRACE(name);
    const TorchSaveFile f(dir / (name + ".pt"));
    EXPECT_EQ(std::set<std::string>(f.names().begin(), f.names().end()), tensors);
    for (const auto& t : tensors) {
      const at::Tensor want = expected.at(name + "/" + t);
      const at::Tensor got = f.read(t);
      EXPECT_EQ(got.scalar_type(), want.scalar_type()) << t;
      EXPECT_EQ(got.sizes(), want.sizes()) << t;
      EXPECT_TRUE(got.is_contiguous()) << t;
      // Bit for bit (libtorch compares no fp8 values).
      auto bytes = [](const at::Tensor& x) { return x.reshape({-1}).view(torch::kUInt8); };
      if (got.sizes() == want.sizes() && got.scalar_type() == want.scalar_type())
        EXPECT_TRUE(torch::equal(bytes(got), bytes(want))) << t;
    }
  }
}

}  // namespace
}  // namespace asdm
