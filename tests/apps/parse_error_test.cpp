// The one line asdm prints for a command line that does not parse (apps/asdm/parse_error.h), on a
// small command tree of the same shape: a root flag, a leaf command with a required option, and a
// group with commands of its own.
#include "apps/asdm/parse_error.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace asdm::cli {
namespace {

std::string error_for(const std::vector<std::string>& args) {
  CLI::App app;
  app.require_subcommand(1);
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet);
  std::string model;
  int runs = 1;
  auto* profile = app.add_subcommand("profile");
  profile->add_option("--model", model)->required();
  profile->add_option("--runs", runs);
  auto* proxy = app.add_subcommand("proxy");
  proxy->require_subcommand(1);
  proxy->add_subcommand("train");
  proxy->add_subcommand("eval");
  std::vector<const char*> argv = {"asdm"};
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return parse_error_text(app, e);
  }
  return "";
}

TEST(ParseError, ATypoIsNamedBeforeWhatItLeftMissing) {
  EXPECT_EQ(error_for({"profil"}), "'profil' is not a command of 'asdm'; did you mean 'profile'?");
  EXPECT_EQ(error_for({"profile", "--modl", "m"}),
            "--modl is not an option of 'asdm profile'; did you mean '--model'?");
  EXPECT_EQ(error_for({"profile", "--modl=m"}),
            "--modl is not an option of 'asdm profile'; did you mean '--model'?");
  EXPECT_EQ(error_for({"profile", "--model", "m", "--frobnicate"}),
            "--frobnicate is not an option of 'asdm profile'");
  // Named where it stood: a typo before the command is the root's.
  EXPECT_EQ(error_for({"--quite", "profile", "--model", "m"}),
            "--quite is not an option of 'asdm'; did you mean '--quiet'?");
  EXPECT_EQ(error_for({"proxy", "trian"}),
            "'trian' is not a command of 'asdm proxy'; did you mean 'train'?");
}

TEST(ParseError, RootFlagsAfterTheCommandAndMissingCommands) {
  EXPECT_EQ(error_for({"profile", "--model", "m", "-q"}),
            "-q is an option of 'asdm' itself: put it before 'profile'");
  EXPECT_EQ(error_for({"proxy"}), "'asdm proxy' needs a command: 'train', 'eval'");
  EXPECT_EQ(error_for({}), "'asdm' needs a command: 'profile', 'proxy'");
}

TEST(ParseError, OtherErrorsKeepCli11sText) {
  EXPECT_EQ(error_for({"profile"}), "--model is required");
  EXPECT_EQ(error_for({"profile", "--model", "m", "--runs", "x"}), "Could not convert: --runs = x");
  EXPECT_EQ(error_for({"profile", "--model", "m", "--runs", "-1"}), "");  // a value, not an option
  EXPECT_EQ(error_for({"profile", "--model", "m"}), "");
}

}  // namespace
}  // namespace asdm::cli
