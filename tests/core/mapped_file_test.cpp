// MappedFile: a file's bytes in place, private writes, and one line instead of a bare SIGBUS when
// the file shrinks under its mapping.
#include "core/mapped_file.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

fs::path write_file(const fs::path& path, size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>('a' + i % 26);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(MappedFile, BytesInPlaceAndPrivateWrites) {
  const fs::path dir = test::scratch_dir("mapped_file");
  const fs::path p = write_file(dir / "w.bin", 10000);
  {
    MappedFile f(p);
    ASSERT_EQ(f.size(), 10000u);
    EXPECT_EQ(f.bytes().substr(0, 4), "abcd");
    unsigned char* w = f.make_writable(26, 3);
    ASSERT_NE(w, nullptr);
    w[0] = 'X';
    EXPECT_EQ(f.bytes().substr(25, 3), "zXb");
    EXPECT_EQ(f.make_writable(9999, 2), nullptr);  // past the end
  }
  EXPECT_EQ(MappedFile(p).bytes().substr(25, 3), "zab");  // the file never saw the write
  EXPECT_EQ(MappedFile(write_file(dir / "empty.bin", 0)).size(), 0u);
  try {
    MappedFile f(dir);
    ADD_FAILURE() << "a folder mapped";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), fmt::format("'{}' is not a regular file", dir.string()));
  }
}

TEST(MappedFileDeathTest, AFileThatShrinksUnderItsMappingIsOneLineAndExitOne) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const fs::path dir = fs::absolute(test::scratch_dir("mapped_file_shrunk"));
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const fs::path p = write_file(dir / "model.safetensors", 3 * page);
  EXPECT_EXIT(
      {
        MappedFile f(p);
        fs::resize_file(p, 100);  // another program rewriting it in place
        volatile unsigned char c = f.data()[2 * page + 5];
        (void)c;
        std::_Exit(0);
      },
      testing::ExitedWithCode(1),
      fmt::format(
          "^asdm: error: '{}' could not be read at byte {}: it was {} bytes when asdm opened it "
          "and is now 100 \\(another program truncated it",
          p.string(), 2 * page + 5, 3 * page));
}

TEST(MappedFileDeathTest, AnyOtherSigbusKeepsItsDefaultAction) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const fs::path p = write_file(test::scratch_dir("mapped_file_other") / "w.bin", 64);
  EXPECT_EXIT(
      {
        MappedFile f(p);
        ::raise(SIGBUS);
        std::_Exit(0);
      },
      testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace asdm
