// WeightsFile::map: a safetensors tensor over the file's own bytes, copy-on-write, where its bytes
// are aligned; read() otherwise (torch.save files: tests/model/torch_save_test.cpp).
#include "model/weights_file.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/tensor_io.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

TEST(WeightsFile, MappedTensorsAreTheFilesBytesAndWritingThemLeavesTheFileAlone) {
  const fs::path path = test::scratch_dir("weights_map") / "w.safetensors";
  const auto a = torch::arange(12, torch::kFloat32).reshape({3, 4});
  const auto b = torch::arange(5, torch::kInt64);
  write_tensors(path, {{"a", a}, {"b", b}});
  at::Tensor mapped;
  {
    const auto file = open_weights_file(path);
    mapped = file->map("a");
    ASSERT_TRUE(mapped.defined());
    EXPECT_EQ(mapped.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(mapped, a));
    EXPECT_TRUE(torch::equal(file->map("b"), b));
  }  // the tensor keeps the file mapped
  EXPECT_TRUE(torch::equal(mapped, a));
  mapped.add_(100);  // copy-on-write: this process's pages only
  EXPECT_TRUE(torch::equal(mapped, a + 100));
  EXPECT_TRUE(torch::equal(open_weights_file(path)->read("a"), a));
  EXPECT_TRUE(torch::equal(open_weights_file(path)->map("a"), a));

  // Replacing the file (asdm's writers write a new file and rename it over the old one) leaves
  // tensors mapped from the old one as they were.
  write_tensors(path, {{"a", a * 2}, {"b", b}});
  EXPECT_TRUE(torch::equal(mapped, a + 100));
  EXPECT_TRUE(torch::equal(open_weights_file(path)->map("a"), a * 2));
}

TEST(WeightsFile, UnalignedAndEmptyTensorsAreNotMappedButRead) {
  // Tensors are stored in name order: "a" (3 float16, 6 bytes) puts "b" (float32) 2 bytes off
  // its alignment.
  const fs::path path = test::scratch_dir("weights_map_unaligned") / "w.safetensors";
  const auto a = torch::tensor({1.5, 2.5, 3.5}, torch::kFloat16);
  const auto b = torch::tensor({4.0, 5.0}, torch::kFloat32);
  write_tensors(path, {{"a", a}, {"b", b}, {"c", torch::empty({0, 3})}});
  const auto file = open_weights_file(path);
  EXPECT_TRUE(torch::equal(file->map("a"), a));
  EXPECT_FALSE(file->map("b").defined());
  EXPECT_TRUE(torch::equal(file->read("b"), b));
  EXPECT_FALSE(file->map("c").defined());
  EXPECT_EQ(file->read("c").sizes(), (std::vector<int64_t>{0, 3}));
}

}  // namespace
}  // namespace asdm
