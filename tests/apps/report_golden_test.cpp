// The report against artifacts the real commands wrote: inspect, profile, ablate (both tiers),
// search (measured), build, incubate and bench on a random test-world pipeline, then report. Every
// Markdown table is reduced to its shape — the header, and the set of row shapes with each cell a
// number (#), a placeholder (–) or text (t) — and compared with tests/apps/golden/report.shapes.
// A writer that drops or renames a field the report reads turns a # into a – and fails here.
// ASDM_UPDATE_GOLDEN=1 rewrites the golden file from this run.
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "core/artifact.h"
#include "tests/apps/cli_helpers.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

std::string cell_shape(std::string c) {
  while (!c.empty() && c.front() == ' ') c.erase(c.begin());
  while (!c.empty() && c.back() == ' ') c.pop_back();
  if (c.empty()) return "";
  if (c == "–" || c == "-") return "–";
  static const std::regex number(
      R"(^[+-]?[0-9.]+(e[+-]?[0-9]+)?( ?(%|ms|dB|k|M|G|KiB|MiB|GiB|B))?( \(.*\))?$)");
  return std::regex_match(c, number) ? "#" : "t";
}

// Headings verbatim; per table its header and the sorted set of row shapes.
std::string shapes(const std::string& markdown) {
  std::istringstream in(markdown);
  std::string line, out, header;
  std::set<std::string> rows;
  auto flush = [&] {
    if (header.empty()) return;
    out += "table " + header + "\n";
    for (const auto& r : rows) out += "  row " + r + "\n";
    header.clear();
    rows.clear();
  };
  bool after_header = false;
  while (std::getline(in, line)) {
    if (line.rfind("| ", 0) != 0) {
      flush();
      after_header = false;
      if (line.rfind("#", 0) == 0) out += line + "\n";
      continue;
    }
    if (header.empty()) {
      header = line;
      continue;
    }
    if (!after_header) {  // the | --- | separator
      after_header = true;
      continue;
    }
    std::string shape = "|";
    size_t p = 1;
    for (size_t q; (q = line.find('|', p)) != std::string::npos; p = q + 1)
      shape += " " + cell_shape(line.substr(p, q - p)) + " |";
    rows.insert(shape);
  }
  flush();
  return out;
}

TEST(ReportGolden, TablesFromTheRealCommandsHaveTheirShape) {
  const ProxySetup s = make_proxy_setup("report_golden", 4);
  const std::string d = s.dir.string(), pipe = s.pipeline.string();
  auto run = [](const std::vector<std::string>& a) {
    std::vector<std::string> args = {"-q"};
    args.insert(args.end(), a.begin(), a.end());
    const Result r = asdm(args);
    ASSERT_EQ(r.rc, 0) << a[0] << ": " << r.err;
  };
  run({"inspect", "--model", pipe, "--resolution", "64", "--json", d + "/inspect.json"});
  run({"profile", "--model", pipe, "--resolution", "64", "--batch", "2", "--text-tokens", "12",
       "--runs", "3", "--warmup", "1", "--threads", "1", "-o", d + "/profile.json"});
  run({"ablate", "--model", pipe, "--prompts", s.prompts.string(), "--profile", d + "/profile.json",
       "--tier", "both", "--top", "2", "--steps", "4", "--timesteps", "2", "--threads", "1", "-o",
       d + "/importance.json"});
  run({"search",
       "--profile",
       d + "/profile.json",
       "--importance",
       d + "/importance.json",
       "--target-speedup",
       "0.01",
       "--remove",
       "down_blocks.1.resnets.1,up_blocks.2.attentions.0",
       "--max-candidates",
       "1",
       "--measure",
       "--runs",
       "2",
       "--warmup",
       "0",
       "--threads",
       "1",
       "-o",
       d + "/candidates.json"});
  run({"build", "--teacher", pipe, "--candidates", d + "/candidates.json", "--pick", "c1", "-o",
       d + "/student"});
  run({"incubate", "--teacher", pipe, "--student", d + "/student", "-o", d + "/inc", "--steps", "2",
       "--batch", "2", "--one-shot", "--no-eval", "--threads", "1"});
  run({"bench", "--models", "teacher=" + pipe + ",student=" + d + "/inc", "--batch", "2", "--runs",
       "2", "--warmup", "0", "--pipeline-runs", "1", "--steps", "2", "--quality-prompts", "2",
       "--threads", "1", "-o", d + "/bench.json"});
  run({"report", d + "/inspect.json", d + "/profile.json", d + "/importance.json",
       d + "/candidates.json", d + "/bench.json", d + "/inc/incubation.json", "-o", d + "/report"});

  const std::string got = shapes(read_text_file(s.dir / "report" / "report.md"));
  const fs::path golden = test::source_dir() / "tests/apps/golden/report.shapes";
  if (const char* u = std::getenv("ASDM_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    write_file_atomic(golden, got);
    GTEST_SKIP() << "rewrote " << golden;
  }
  EXPECT_EQ(got, read_text_file(golden)) << "the report's tables changed shape; if on purpose, "
                                            "rerun with ASDM_UPDATE_GOLDEN=1 and review the diff";
}

}  // namespace
}  // namespace asdm
