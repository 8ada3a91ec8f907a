#include "sd/clip_tokenizer.h"

#include <gtest/gtest.h>

#include "core/artifact.h"
#include "core/error.h"
#include "tests/test_env.h"
#include "tests/tiny_pipeline.h"

namespace asdm {
namespace {

// Each test its own folder: CTest runs them at once.
ClipTokenizer tiny(const std::string& name) {
  const auto dir = test::scratch_dir("tokenizer-tiny-" + name);
  test::write_tiny_tokenizer(dir);
  return ClipTokenizer::load(dir);
}

TEST(ClipTokenizer, MergesByRankWithTheEndOfWordMarker) {
  const auto tok = tiny("a");
  EXPECT_EQ(tok.tokens("The RED  cat"),
            (std::vector<std::string>{"the</w>", "red</w>", "c", "a", "t</w>"}));
  EXPECT_EQ(tok.tokens("a, of!"), (std::vector<std::string>{"a</w>", ",</w>", "of</w>", "!</w>"}));
  EXPECT_EQ(tok.tokens("it's 42"),
            (std::vector<std::string>{"i", "t</w>", "'", "s</w>", "4</w>", "2</w>"}));
}

TEST(ClipTokenizer, PadsAndTruncatesToTheModelLength) {
  const auto tok = tiny("b");
  const auto ids = tok.encode_padded("the red");
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids[0], tok.bos_id());
  EXPECT_EQ(ids[3], tok.eos_id());
  EXPECT_EQ(ids[76], tok.pad_id());
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "the ";
  const auto cut = tok.encode_padded(long_text);
  ASSERT_EQ(cut.size(), 77u);
  EXPECT_EQ(cut[75], tok.encode("the")[0]);
  EXPECT_EQ(cut[76], tok.eos_id());
  EXPECT_EQ(
      tok.encode_padded("", 5),
      (std::vector<int64_t>{tok.bos_id(), tok.eos_id(), tok.pad_id(), tok.pad_id(), tok.pad_id()}));
}

TEST(ClipTokenizer, SpecialTokensInTextAndUnknownCharacters) {
  const auto tok = tiny("c");
  const auto ids = tok.encode("a<|endoftext|>the");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], tok.eos_id());
  // The tiny vocabulary has no bytes above 0x7e: each byte of U+00E9 is unknown.
  EXPECT_EQ(tok.encode("\xC3\xA9"), (std::vector<int>{tok.eos_id(), tok.eos_id()}));
  EXPECT_NE(test::error_of([&] { tok.encode("bad \xFF byte"); }).find("not valid UTF-8"),
            std::string::npos);
}

TEST(ClipTokenizer, BadFilesSayWhatIsWrong) {
  const auto dir = test::scratch_dir("tokenizer-bad");
  EXPECT_NE(test::error_of([&] { ClipTokenizer::load(dir / "absent"); }).find("does not exist"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              ClipTokenizer::load(dir);
            }).find("neither vocab.json + merges.txt nor tokenizer.json"),
            std::string::npos);
  test::write_tiny_tokenizer(dir);
  write_file_atomic(dir / "vocab.json", "{not json");
  EXPECT_NE(test::error_of([&] { ClipTokenizer::load(dir); }).find("is not valid JSON"),
            std::string::npos);
  test::write_tiny_tokenizer(dir);
  write_file_atomic(dir / "merges.txt", "#version: 0.2\nt h\nthree parts here\n");
  EXPECT_NE(
      test::error_of([&] { ClipTokenizer::load(dir); }).find("merge rule 2 is 'three parts here'"),
      std::string::npos);
  test::write_tiny_tokenizer(dir);
  write_json_atomic(dir / "tokenizer_config.json", {{"pad_token", "<pad>"}});
  EXPECT_NE(test::error_of([&] {
              ClipTokenizer::load(dir);
            }).find("padding token '<pad>' is not in the tokenizer"),
            std::string::npos);
  test::write_tiny_tokenizer(dir);
  std::filesystem::remove(dir / "vocab.json");
  write_file_atomic(dir / "tokenizer.json", "[1, 2]");
  EXPECT_NE(test::error_of([&] { ClipTokenizer::load(dir); }).find("has no 'model' object"),
            std::string::npos);
}

}  // namespace
}  // namespace asdm
