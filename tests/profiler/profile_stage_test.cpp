// profile_until_consistent: a profile whose units do not add up to its forward (a busy machine) is
// taken again, up to the tries given; after the last, nothing comes back and the error names the
// shares seen.
#include "profiler/profile_stage.h"

#include <gtest/gtest.h>

#include "tests/test_env.h"

namespace asdm {
namespace {

// A profile whose two units add up to `share` of a 10 ms forward.
ProfileArtifact with_share(double share) {
  ProfileArtifact a;
  a.model = "teacher";
  a.report.unobserved_ms.median = a.report.forward_ms.median = 10;
  for (const char* id : {"down", "up"}) {
    UnitProfile u;
    u.id = id;
    u.inclusive_ms.median = u.exclusive_ms.median = 5 * share;
    a.report.units.push_back(u);
  }
  return a;
}

TEST(ProfileStage, ABusyProfileIsTakenAgain) {
  std::vector<double> given = {0.06, 0.14, 0.97};
  size_t calls = 0;
  std::vector<std::string> notes;
  auto profile = [&] { return with_share(given.at(calls++)); };
  auto note = [&](const std::string& n) { notes.push_back(n); };
  const ProfileArtifact a = profile_until_consistent(profile, 3, note);
  EXPECT_EQ(calls, 3u);
  EXPECT_DOUBLE_EQ(unit_share(a.report), 0.97);
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[0],
            "warning: the units of teacher add up to 6% of the forward's 10.00 ms (a busy "
            "machine?); profiling again (2 of 3)");
  EXPECT_NE(notes[1].find("profiling again (3 of 3)"), std::string::npos) << notes[1];

  // A consistent first profile is the only one taken.
  calls = 2;
  notes.clear();
  profile_until_consistent(profile, 3, note);
  EXPECT_EQ(calls, 3u);
  EXPECT_TRUE(notes.empty());

  // Busy every time: an error naming each share, after exactly `tries` profiles.
  given = {0.06, 1.5};
  calls = 0;
  EXPECT_EQ(test::error_of([&] { profile_until_consistent(profile, 2, note); }),
            "the machine was too busy to time teacher: in 2 profiles its units added up to 6%, "
            "150% of the forward (a quiet machine gives about 100%); nothing was written, so a "
            "rerun profiles again");
  EXPECT_EQ(calls, 2u);
}

}  // namespace
}  // namespace asdm
