#include "model/safetensors.h"

#include <cstring>
#include <fstream>

#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "tests/file_size_limit.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

// A file image: 8-byte length, header text, then `data_bytes` zero bytes.
std::vector<uint8_t> image(const std::string& header, size_t data_bytes,
                           int64_t declared_len = -1) {
  std::vector<uint8_t> b(8);
  const uint64_t n = declared_len < 0 ? header.size() : static_cast<uint64_t>(declared_len);
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(n >> (8 * i));
  b.insert(b.end(), header.begin(), header.end());
  b.resize(b.size() + data_bytes, 0);
  return b;
}

std::string parse_error(const std::vector<uint8_t>& b) {
  return test::error_of([&] { parse_safetensors(b.data(), b.size(), "f.safetensors"); });
}

TEST(Safetensors, ParsesAValidHeader) {
  const auto b = image(
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  )",
      12);
  const auto h = parse_safetensors(b.data(), b.size(), "f");
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(h.find("b")->dtype, StorageDType::kF16);
  EXPECT_EQ(h.find("a")->numel(), 2u);
}

TEST(Safetensors, AcceptsEmptyTensorsAndScalars) {
  const auto b = image(
      R"({"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})",
      8);
  EXPECT_EQ(parse_safetensors(b.data(), b.size(), "f").tensors.size(), 2u);
}

struct BadFile {
  const char* name;
  std::vector<uint8_t> bytes;
  const char* message;
  friend void PrintTo(const BadFile& b, std::ostream* os) { *os << b.name; }
};

class SafetensorsErrors : public ::testing::TestWithParam<BadFile> {};

TEST_P(SafetensorsErrors, GiveOneLineNamingTheProblem) {
  EXPECT_EQ(parse_error(GetParam().bytes), GetParam().message);
}

const std::string kOk = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

INSTANTIATE_TEST_SUITE_P(
    Cases, SafetensorsErrors,
    ::testing::Values(
        BadFile{"truncated",
                {1, 0, 0},
                "f.safetensors: truncated safetensors file (3 bytes; it must start with an 8-byte "
                "header length)"},
        BadFile{"header_beyond_file", image("{" + kOk + "}", 8, 4000),
                "f.safetensors: safetensors header length 4000 goes beyond the end of the file (62 "
                "bytes after the length)"},
        BadFile{"header_too_large", image("{}", 0, 200'000'000),
                "f.safetensors: safetensors header length 200000000 exceeds the limit of 100000000 "
                "bytes"},
        BadFile{
            "not_json", image("{\"a\": nope}", 0),
            "f.safetensors: the safetensors header is not valid JSON (at byte 8 of the header)"},
        BadFile{"not_object", image("[1, 2]", 0),
                "f.safetensors: the safetensors header must start with '{'"},
        BadFile{"unknown_dtype",
                image(R"({"a":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", 8),
                "f.safetensors: tensor 'a': unknown dtype 'F12' (known: BOOL, U8, I8, F8_E5M2, "
                "F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64)"},
        BadFile{"size_mismatch",
                image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                "f.safetensors: tensor 'a' has shape [3] x F32 (12 bytes) but data_offsets span 8 "
                "bytes"},
        BadFile{"outside_data",
                image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 8),
                "f.safetensors: tensor 'a' has data_offsets [4, 12] outside the data (8 bytes)"},
        BadFile{"begin_after_end",
                image(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8),
                "f.safetensors: tensor 'a' has data_offsets [8, 4] with begin after end"},
        BadFile{
            "overlap",
            image(
                R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                12),
            "f.safetensors: tensors 'a' and 'b' overlap (bytes 0..8 and 4..12)"},
        BadFile{"hole", image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
                "f.safetensors: data bytes 0..4 belong to no tensor (a hole before tensor 'a')"},
        BadFile{"trailing_data", image("{" + kOk + "}", 12),
                "f.safetensors: data bytes 8..12 after the last tensor belong to no tensor"},
        BadFile{"duplicate_key", image("{" + kOk + "," + kOk + "}", 8),
                "f.safetensors: the safetensors header names tensor 'a' twice"},
        BadFile{
            "negative_shape",
            image(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
            "f.safetensors: tensor 'a' has a shape entry -2 that is not a non-negative integer"},
        BadFile{
            "shape_overflow",
            image(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                  8),
            "f.safetensors: tensor 'a' has shape [4294967296,4294967296] x F32 (overflowing bytes) "
            "but data_offsets span 8 bytes"},
        BadFile{"bad_offsets", image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8),
                "f.safetensors: tensor 'a' needs 'data_offsets' as two non-negative integers"},
        BadFile{"metadata_not_string", image(R"({"__metadata__":{"n":1}})", 0),
                "f.safetensors: '__metadata__' entry 'n' must be a string, got 1"},
        // torch.save's zip (a local file header: PK 3 4, version 20) and its legacy pickle
        // (protocol 2, the magic number as a LONG1): what a .ckpt holds.
        BadFile{"torch_save_zip",
                {'P', 'K', 3, 4, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
                "f.safetensors: this is a torch.save (pickle) file; this input must be "
                "safetensors (convert it in Python: "
                "safetensors.torch.save_file(torch.load(path), new_path))"},
        BadFile{"torch_save_legacy",
                {0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19},
                "f.safetensors: this is a torch.save (pickle) file; this input must be "
                "safetensors (convert it in Python: "
                "safetensors.torch.save_file(torch.load(path), new_path))"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Safetensors, WriterOutputParsesAndPadsTheHeader) {
  const auto dir = test::scratch_dir("safetensors_write");
  const float a[3] = {1, 2, 3};
  const int64_t b[1] = {-7};
  write_safetensors(dir / "x.safetensors",
                    {{"b", StorageDType::kI64, {1}, b}, {"a", StorageDType::kF32, {3}, a}},
                    {{"format", "pt"}});
  SafetensorsFile f(dir / "x.safetensors");
  EXPECT_EQ(f.header().data_offset % 8, 0u);
  const auto* ea = f.header().find("a");
  ASSERT_NE(ea, nullptr);
  float back[3];
  std::memcpy(back, f.data(*ea), sizeof back);
  EXPECT_EQ(back[2], 3.0f);
  int64_t bb;
  std::memcpy(&bb, f.data(*f.header().find("b")), 8);
  EXPECT_EQ(bb, -7);
}

TEST(Safetensors, AFailedWriteKeepsTheOldFileAndLeavesNoTemporary) {
  const auto dir = test::scratch_dir("safetensors_failed_write");
  const auto path = dir / "x.safetensors";
  const float one[1] = {1};
  write_safetensors(path, {{"a", StorageDType::kF32, {1}, one}}, {});
  const std::vector<float> big(4096, 2.0f);
  {
    test::FileSizeLimit full(4096);  // as a disk that fills
    EXPECT_EQ(test::error_of([&] {
                write_safetensors(path, {{"a", StorageDType::kF32, {4096}, big.data()}}, {});
              }),
              fmt::format("cannot write '{}.tmp.{}' (disk full?)", path.string(), ::getpid()));
  }
  SafetensorsFile f(path);
  ASSERT_NE(f.header().find("a"), nullptr);
  EXPECT_EQ(f.header().find("a")->shape, std::vector<int64_t>{1});
  EXPECT_EQ(test::regular_files(dir), 1);
  // A folder where the file would go: nothing written beside it either.
  std::filesystem::create_directories(dir / "taken.safetensors" / "inside");
  EXPECT_EQ(
      test::error_of([&] {
        write_safetensors(dir / "taken.safetensors", {{"a", StorageDType::kF32, {1}, one}}, {});
      }),
      fmt::format("cannot move '{0}.tmp.{1}' into place as '{0}': Is a directory",
                  (dir / "taken.safetensors").string(), ::getpid()));
  EXPECT_EQ(test::regular_files(dir), 1);
}

TEST(Safetensors, FileErrorsNameThePath) {
  const auto dir = test::scratch_dir("safetensors_file");
  EXPECT_EQ(test::error_of([&] { SafetensorsFile f(dir / "none.safetensors"); }),
            "cannot open '" + (dir / "none.safetensors").string() + "': No such file or directory");
  std::ofstream(dir / "short.safetensors") << "abc";
  EXPECT_EQ(
      test::error_of([&] { SafetensorsFile f(dir / "short.safetensors"); }),
      (dir / "short.safetensors").string() +
          ": truncated safetensors file (3 bytes; it must start with an 8-byte header length)");
}

TEST(Safetensors, ReadsTheDiffusersFixture) {
  SafetensorsFile f(test::fixture_dir() / "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(f.header().metadata.at("format"), "pt");
  uint64_t n = 0;
  for (const auto& t : f.header().tensors) n += t.numel();
  EXPECT_EQ(n, 827476u);  // the fixture README's parameter count
}

}  // namespace
}  // namespace asdm
