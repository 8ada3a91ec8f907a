#include "core/zip.h"

#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/error.h"

namespace asdm {
namespace {

TEST(Zip, Crc32IsZipsCrc) {
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);  // the standard check value
  // Eight bytes at a time and one at a time agree, at every length and split.
  std::string s;
  for (int i = 0; i < 300; ++i) s.push_back(static_cast<char>(i * 37 + 11));
  uint32_t bytewise = 0;
  for (size_t n = 0; n <= s.size(); ++n) {
    EXPECT_EQ(crc32(s.data(), n), bytewise) << n;
    if (n < s.size()) bytewise = crc32(s.data() + n, 1, bytewise);
  }
  EXPECT_EQ(crc32(s.data() + 13, s.size() - 13, crc32(s.data(), 13)), crc32(s.data(), s.size()));
}

// A stored single-member archive as Python's zipfile writes one.
std::string one_member_zip(const std::string& name, const std::string& data) {
  auto le = [](std::string& b, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b.push_back(static_cast<char>(v >> (8 * i)));
  };
  const uint32_t crc = crc32(data.data(), data.size());
  std::string z = "PK\x03\x04";
  le(z, 20, 2), le(z, 0, 2), le(z, 0, 2), le(z, 0, 4), le(z, crc, 4);
  le(z, data.size(), 4), le(z, data.size(), 4), le(z, name.size(), 2), le(z, 0, 2);
  z += name + data;
  const size_t cd = z.size();
  z += "PK\x01\x02";
  le(z, 20, 2), le(z, 20, 2), le(z, 0, 2), le(z, 0, 2), le(z, 0, 4), le(z, crc, 4);
  le(z, data.size(), 4), le(z, data.size(), 4), le(z, name.size(), 2), le(z, 0, 2);
  le(z, 0, 2), le(z, 0, 2), le(z, 0, 2), le(z, 0, 4), le(z, 0, 4);
  z += name;
  const size_t cd_size = z.size() - cd;
  z += "PK\x05\x06";
  le(z, 0, 4), le(z, 1, 2), le(z, 1, 2), le(z, cd_size, 4), le(z, cd, 4), le(z, 0, 2);
  return z;
}

TEST(Zip, TheDirectorySaysWhereEachMembersBytesAre) {
  const std::string z = one_member_zip("archive/data/0", "tensor bytes");
  const auto entries = zip_directory(z, "a.zip");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].name, "archive/data/0");
  EXPECT_EQ(entries[0].method, 0);
  EXPECT_EQ(entries[0].size, 12u);
  EXPECT_EQ(z.substr(entries[0].data_offset, entries[0].size), "tensor bytes");
  EXPECT_EQ(entries[0].crc, crc32("tensor bytes", 12));
}

TEST(Zip, DamagedArchivesAreNamedErrors) {
  EXPECT_THROW(
      {
        try {
          zip_directory("not a zip at all, just some bytes", "x.zip");
        } catch (const Error& e) {
          EXPECT_STREQ(e.what(), "x.zip is not a zip archive (no zip directory)");
          throw;
        }
      },
      Error);
  // Cut inside the member's bytes: the directory (at the end) survives only in the copy below.
  std::string z = one_member_zip("m", std::string(100, 'x'));
  std::string cut = z;
  cut.erase(40, 50);  // the directory now points past the member's end
  EXPECT_THROW(zip_directory(cut, "cut.zip"), Error);
  std::string bad = z;
  bad[bad.size() - 22 + 16] = 0x7f;  // the directory's offset, far outside
  try {
    zip_directory(bad, "bad.zip");
    ADD_FAILURE() << "a directory outside the file was read";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "bad.zip: zip directory entry 0 is damaged");
  }
}

}  // namespace
}  // namespace asdm
