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

// Cases scripts/fuzz.sh found (fuzz/npz_fuzz.cpp): each must be asdm's one-line error naming the
// file, never a read past the buffer or another exception.
std::string npy_with_header(const std::string& header, const std::string& data = "") {
  std::string b = "\x93NUMPY\x01";
  b += '\0';
  b += static_cast<char>(header.size() & 0xFF);
  b += static_cast<char>(header.size() >> 8);
  return b + header + data;
}

TEST(Npz, HostileSizesAreNamedErrors) {
  // A directory entry whose extra field runs past the end of the file (read out of bounds before).
  const auto dir = test::scratch_dir("npz-hostile");
  write_npz(dir / "ok.npz", {{"a", {{2}, {1, 2}}}});
  const std::string ok = read_text_file(dir / "ok.npz");
  std::string extra = ok;
  const size_t cd = extra.find("PK\x01\x02");
  extra[cd + 30] = '\xff';
  extra[cd + 31] = '\x7f';
  EXPECT_NE(test::error_of([&] { parse_zip(extra, "x.npz"); })
                .find("x.npz: zip directory entry 0 "
                      "is damaged"),
            std::string::npos);
  // A ZIP64 extra field too short for the sizes it stands for.
  std::string zip64 = ok;
  for (int i = 20; i < 28; ++i) zip64[cd + i] = '\xff';  // both sizes: "see the ZIP64 field"
  EXPECT_NE(test::error_of([&] { parse_zip(zip64, "x.npz"); }).find("member 'a.npy'"),
            std::string::npos);
  // Shapes whose element count overflows, or is beyond any file.
  EXPECT_NE(test::error_of([&] {
              parse_npy(npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': "
                                        "(99999999999999999999,), }"),
                        "big.npy");
            }).find("big.npy: .npy shape dimension 99999999999999999999 is too large"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              parse_npy(npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': "
                                        "(4294967296, 4294967296, 4294967296), }"),
                        "wide.npy");
            }).find("wide.npy: 9007199254740992 elements of <f8 expected"),
            std::string::npos);
  // A zero dimension makes an empty array whatever the others are.
  const auto empty = parse_npy(
      npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (999999999999, 0), }"),
      "empty.npy");
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_TRUE(empty.data.empty());
}

}  // namespace
}  // namespace asdm
