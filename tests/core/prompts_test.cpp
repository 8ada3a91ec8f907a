#include "core/prompts.h"

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_env.h"

namespace asdm {
namespace {

std::string write(const std::string& name, const std::string& bytes) {
  const auto path = test::scratch_dir("prompts_" + name) / "prompts.txt";
  std::ofstream(path, std::ios::binary) << bytes;
  return path.string();
}

TEST(Prompts, OnePerLineAsEditorsWriteThem) {
  using V = std::vector<std::string>;
  EXPECT_EQ(read_prompts(write("plain", "a red cat\na blue dog\n")),
            (V{"a red cat", "a blue dog"}));
  // Windows line ends, trailing spaces, blank lines, no final newline.
  EXPECT_EQ(read_prompts(write("crlf", "a red cat  \r\n\r\n   \r\na blue dog")),
            (V{"a red cat", "a blue dog"}));
  // A UTF-8 byte-order mark is not part of the first prompt; elsewhere the bytes are kept.
  EXPECT_EQ(read_prompts(write("bom",
                               "\xEF\xBB\xBF"
                               "caf\xC3\xA9\n\xEF\xBB\xBFx\n")),
            (V{"caf\xC3\xA9", "\xEF\xBB\xBFx"}));
}

TEST(Prompts, NothingToReadIsOneLine) {
  const std::string empty = write("empty", "\xEF\xBB\xBF\n \r\n\n");
  EXPECT_EQ(test::error_of([&] { read_prompts(empty); }),
            "prompts file " + empty + " has no prompts");
  const auto dir = test::scratch_dir("prompts_dir").string();
  EXPECT_EQ(test::error_of([&] { read_prompts(dir); }), "prompts file " + dir + " is a folder");
  EXPECT_EQ(test::error_of([&] { read_prompts(dir + "/absent.txt"); }),
            "cannot read prompts file " + dir + "/absent.txt");
}

}  // namespace
}  // namespace asdm
