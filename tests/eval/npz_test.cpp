#include "eval/npz.h"

#include <gtest/gtest.h>

#include "core/artifact.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(Npz, RoundTripsFloatIntAndZeroDimensionalArrays) {
  const auto dir = test::scratch_dir("npz-roundtrip");
  NpyArray m{{3}, {1.5, -2.0, 1e-300}}, s{{2, 2}, {1, 2, 3, 4}}, n{{}, {42}, true};
  write_npz(dir / "x.npz", {{"mu", m}, {"sigma", s}, {"n", n}});
  const auto back = read_npz(dir / "x.npz");
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back.at("mu").data, m.data);
  EXPECT_EQ(back.at("sigma").shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(back.at("sigma").data, s.data);
  EXPECT_TRUE(back.at("n").integer);
  EXPECT_TRUE(back.at("n").shape.empty());
  EXPECT_EQ(back.at("n").data, std::vector<double>{42});
}

TEST(Npz, NpyHeadersAreNumpysAndFortranOrderIsTransposed) {
  const std::string b = encode_npy({{2, 3}, {1, 2, 3, 4, 5, 6}});
  EXPECT_EQ(b.compare(0, 6, "\x93NUMPY"), 0);
  EXPECT_EQ((10 + static_cast<uint8_t>(b[8])) % 64, 0u) << "data starts at a multiple of 64";
  EXPECT_NE(b.find("'shape': (2, 3), }"), std::string::npos);
  EXPECT_NE(encode_npy({{5}, {0, 0, 0, 0, 0}}).find("(5,)"), std::string::npos);
  std::string f = b;
  f.replace(f.find("False"), 5, "True ");
  // Same bytes read in Fortran order: element (i, j) is at j * 2 + i.
  EXPECT_EQ(parse_npy(f, "f").data, (std::vector<double>{1, 3, 5, 2, 4, 6}));
}

TEST(Npz, DamagedFilesAreNamedErrors) {
  const auto dir = test::scratch_dir("npz-damaged");
  write_file_atomic(dir / "not.npz", "hello");
  EXPECT_NE(test::error_of([&] { read_npz(dir / "not.npz"); }).find("not a zip archive"),
            std::string::npos);
  write_npz(dir / "ok.npz", {{"a", {{4}, {1, 2, 3, 4}}}});
  std::string bytes = read_text_file(dir / "ok.npz");
  bytes[bytes.find("\x93NUMPY") + 130] ^= 0x40;  // a data byte
  write_file_atomic(dir / "bad.npz", bytes);
  EXPECT_NE(test::error_of([&] { read_npz(dir / "bad.npz"); }).find("CRC-32"), std::string::npos);
  std::string big_endian = encode_npy({{1}, {1.0}});
  big_endian.replace(big_endian.find("<f8"), 3, ">f8");
  EXPECT_NE(test::error_of([&] { parse_npy(big_endian, "x"); }).find("not supported"),
            std::string::npos);
}

TEST(Npz, Crc32IsZipsCrc) {
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);  // the standard check value
}

}  // namespace
}  // namespace asdm
