// Scores kept in a file: computed once, taken from the file by a later memo of the same identity,
// ignored (with a line) under another identity or when unreadable, and shared within a run.
#include "core/score_memo.h"

#include <fstream>

#include <gtest/gtest.h>

#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(ScoreMemo, KeepsScoresForALaterRunOfTheSameIdentity) {
  const auto file = test::scratch_dir("score_memo") / "sub" / "scores.json";
  std::vector<std::vector<size_t>> asked;
  auto compute = [&](const std::vector<size_t>& missing) {
    asked.push_back(missing);
    std::vector<double> out;
    for (size_t i : missing) out.push_back(10.0 * double(i) + 0.5);
    return out;
  };
  {
    ScoreMemo m(file, "id-1", "test scores");
    EXPECT_EQ(m.scores({"a", "b"}, compute), (std::vector<double>{0.5, 10.5}));
    // Within the run a key is scored once; it is not "kept" (the file did not have it).
    EXPECT_EQ(m.scores({"b", "c"}, compute), (std::vector<double>{10.5, 10.5}));
    EXPECT_EQ(asked, (std::vector<std::vector<size_t>>{{0, 1}, {1}}));
    EXPECT_EQ(m.computed(), 3);
    EXPECT_EQ(m.kept(), 0);
  }
  asked.clear();
  ScoreMemo again(file, "id-1", "test scores");
  EXPECT_EQ(again.scores({"c", "a", "d"}, compute), (std::vector<double>{10.5, 0.5, 20.5}));
  EXPECT_EQ(asked, (std::vector<std::vector<size_t>>{{2}}));
  EXPECT_EQ(again.kept(), 2);
  EXPECT_EQ(again.computed(), 1);

  std::vector<std::string> notes;
  ScoreMemo other(file, "id-2", "test scores", [&](const std::string& s) { notes.push_back(s); });
  asked.clear();
  other.scores({"a"}, compute);
  EXPECT_EQ(asked.size(), 1u);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("holds scores of other settings"), std::string::npos) << notes[0];

  std::ofstream(file) << "{ not json";
  notes.clear();
  ScoreMemo broken(file, "id-2", "test scores", [&](const std::string& s) { notes.push_back(s); });
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("is unreadable"), std::string::npos) << notes[0];
  EXPECT_EQ(broken.scores({"a"}, compute), std::vector<double>{0.5});  // and rewrites the file
  EXPECT_EQ(ScoreMemo(file, "id-2", "test scores").scores({"a"}, compute),
            std::vector<double>{0.5});

  // No identity: nothing written.
  const auto none = file.parent_path() / "none.json";
  ScoreMemo(none, "", "test scores").scores({"a"}, compute);
  EXPECT_FALSE(std::filesystem::exists(none));
}

}  // namespace
}  // namespace asdm
