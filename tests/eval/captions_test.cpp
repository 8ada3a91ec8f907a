#include "eval/captions.h"

#include <gtest/gtest.h>

#include "core/artifact.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

TEST(Captions, ReadsTextJsonCocoAndCsv) {
  const auto dir = test::scratch_dir("captions-read");
  write_file_atomic(dir / "c.txt", "a cat\r\n\n a dog  \n");
  auto c = read_captions(dir / "c.txt");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[1].text, " a dog");
  EXPECT_EQ(c[1].id, "");
  write_file_atomic(dir / "c.json",
                    R"([{"id": 7, "caption": "x"}, {"image_id": "b", "prompt": "y"}])");
  c = read_captions(dir / "c.json");
  EXPECT_EQ(c[0].id, "7");
  EXPECT_EQ(c[1].text, "y");
  write_file_atomic(dir / "coco.json", R"({"images": [], "annotations": [
      {"image_id": 139, "id": 1, "caption": "first"}, {"image_id": 285, "id": 2, "caption": "bear"},
      {"image_id": 139, "id": 3, "caption": "second of 139"}]})");
  c = read_captions(dir / "coco.json");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].text, "first");
  write_file_atomic(dir / "c.csv", "image_id,caption\n1,\"a, quoted \"\"caption\"\"\"\n2,plain\n");
  c = read_captions(dir / "c.csv");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].text, "a, quoted \"caption\"");
  EXPECT_EQ(c[1].id, "2");
  write_file_atomic(dir / "bad.csv", "id,title\n1,x\n");
  EXPECT_NE(test::error_of([&] { read_captions(dir / "bad.csv"); }).find("no caption column"),
            std::string::npos);
  write_file_atomic(dir / "bad.json", R"([{"id": 1}])");
  EXPECT_NE(test::error_of([&] { read_captions(dir / "bad.json"); }).find("entry 0"),
            std::string::npos);
}

TEST(Captions, PairByIdIgnoringLeadingZerosElseByOrder) {
  const std::vector<fs::path> images = {"d/000000000139.png", "d/000000000285.png"};
  EXPECT_EQ(pair_captions(images, {{"285", "bear"}, {"139", "tv"}, {"9", "x"}}, "c"),
            (std::vector<std::string>{"tv", "bear"}));
  EXPECT_EQ(pair_captions(images, {{"", "one"}, {"", "two"}}, "c"),
            (std::vector<std::string>{"one", "two"}));
  EXPECT_NE(test::error_of([&] {
              pair_captions(images, {{"", "one"}}, "c");
            }).find("2 images but 1 captions"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              pair_captions(images, {{"139", "tv"}}, "c");
            }).find("000000000285.png' has no caption"),
            std::string::npos);
}

}  // namespace
}  // namespace asdm
