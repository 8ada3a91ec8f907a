// report.html in a real browser: headless Chromium (Debian's chromium, installed by
// scripts/setup.sh) loads the report from disk with no network, runs nothing but the report's own
// render check, and must log nothing to the console; every chart must have laid out with marks and
// every sample grid must have decoded. The screenshot is kept in the build tree
// (test-artifacts/report.png) for eyes.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "reports/report.h"
#include "tests/reports/artifacts.h"
#include "tests/test_env.h"

namespace asdm::reports {
namespace {

namespace fs = std::filesystem;

fs::path chromium() { return test::env_path("ASDM_CHROMIUM", test::configured_paths().chromium); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the browser headless on `html` with extra flags; stdout and stderr to files.
int run_browser(const fs::path& html, const std::string& flags, const fs::path& out,
                const fs::path& err) {
  const std::string cmd =
      "'" + chromium().string() +
      "' --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run "
      "--enable-logging=stderr --v=0 --virtual-time-budget=5000 " +
      flags + " 'file://" + fs::absolute(html).string() + "' > '" + out.string() + "' 2> '" +
      err.string() + "'";
  return std::system(cmd.c_str());
}

TEST(ReportRender, EveryChartAndImageRendersInHeadlessChromiumWithoutConsoleMessages) {
  ASSERT_FALSE(chromium().empty())
      << "chromium not found: scripts/setup.sh installs Debian's chromium (or set ASDM_CHROMIUM)";
  ASSERT_TRUE(fs::exists(chromium())) << chromium();
  const fs::path d = test::scratch_dir("report_render");
  std::vector<Artifact> as;
  for (const auto& p : test::write_all_artifacts(d / "in")) as.push_back(read_artifact(p));
  const ReportFiles f = write_report(as, d / "out");

  ASSERT_EQ(run_browser(f.html, "--dump-dom", d / "dom.html", d / "dom.err"), 0)
      << slurp(d / "dom.err");
  const std::string dom = slurp(d / "dom.html");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex("data-rendered=\"([^\"]*)\"")))
      << "the report's render check did not run";
  EXPECT_EQ(m[1].str(), "charts 10/10 images 2/2");
  // Console messages (errors, uncaught exceptions, warnings) are logged as ...:CONSOLE... lines.
  std::istringstream err(slurp(d / "dom.err"));
  for (std::string line; std::getline(err, line);)
    EXPECT_EQ(line.find("CONSOLE"), std::string::npos) << line;

  const fs::path shot = test::binary_dir() / "test-artifacts" / "report.png";
  fs::create_directories(shot.parent_path());
  fs::remove(shot);
  ASSERT_EQ(
      run_browser(f.html,
                  "--hide-scrollbars --window-size=1100,5200 --screenshot='" + shot.string() + "'",
                  d / "shot.out", d / "shot.err"),
      0)
      << slurp(d / "shot.err");
  ASSERT_TRUE(fs::exists(shot));
  EXPECT_GT(fs::file_size(shot), 20000u);  // a blank page compresses to a few kB
  EXPECT_EQ(slurp(shot).substr(1, 3), "PNG");
}

}  // namespace
}  // namespace asdm::reports
