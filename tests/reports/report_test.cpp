#include "reports/report.h"

#include <fstream>
#include <sstream>
#include <tuple>

#include <gtest/gtest.h>

#include "core/error.h"
#include "tests/reports/artifacts.h"
#include "tests/test_env.h"

namespace asdm::reports {
namespace {

namespace fs = std::filesystem;

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_error(const fs::path& p) {
  return test::error_of([&] { read_artifact(p); });
}

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\xff\x00\x10", 3)), "/wAQ");
}

TEST(ReadArtifact, RefusesWhatItCannotRead) {
  const fs::path d = test::scratch_dir("report_read");
  auto write = [&](const std::string& name, const nlohmann::json& j) {
    write_json_atomic(d / name, j);
    return d / name;
  };
  auto good = test::make_profile();
  EXPECT_EQ(read_artifact(write("ok.json", good)).type, "profile");

  auto v2 = good;
  v2["schema_version"] = 2;
  EXPECT_EQ(read_error(write("v2.json", v2)), (d / "v2.json").string() +
                                                  ": a profile artifact of schema version 2; this "
                                                  "asdm reads profile version 1 (use the asdm "
                                                  "that wrote it, or re-run that step)");
  auto no_type = good;
  no_type.erase("artifact");
  EXPECT_EQ(read_error(write("nt.json", no_type)),
            (d / "nt.json").string() + ": not an asdm artifact (no \"artifact\" field)");
  auto no_commit = good;
  no_commit.erase("git_commit");
  EXPECT_EQ(read_error(write("nc.json", no_commit)),
            (d / "nc.json").string() +
                ": the profile artifact has no \"git_commit\" (every asdm artifact carries it)");
  auto schedule = good;
  schedule["artifact"] = "schedule";
  EXPECT_EQ(read_error(write("s.json", schedule)),
            (d / "s.json").string() +
                ": asdm report does not read schedule artifacts; it reads bench, candidates, "
                "eval, importance, incubation, inspect, profile, temporal");
  std::ofstream(d / "bad.json") << "{\"artifact\": ";
  EXPECT_NE(read_error(d / "bad.json").find((d / "bad.json").string()), std::string::npos);
}

TEST(WriteReport, EverySectionChartTableAndCsv) {
  const fs::path d = test::scratch_dir("report_all");
  std::vector<Artifact> as;
  for (const auto& p : test::write_all_artifacts(d / "in")) as.push_back(read_artifact(p));
  ReportOptions o;
  o.title = "test <report>";
  o.argv = {"asdm", "report", "x.json"};
  const ReportFiles f = write_report(as, d / "out", o);
  const std::string html = slurp(f.html), md = slurp(f.markdown);
  // profile: 2 charts; importance: 1 (with the candidates' front); candidates: 1; bench: 2;
  // incubation: 1; inspect: 1; quality against latency (the bench's accuracy and proxy FID): 2.
  EXPECT_EQ(f.charts, 10);
  EXPECT_EQ(count(html, "<svg class=\"chart\""), 10u);
  EXPECT_EQ(count(html, "<section id="), 7u);
  EXPECT_NE(html.find("<title>test &lt;report&gt;</title>"), std::string::npos);
  EXPECT_EQ(count(html, "<img class=\"samples\""), 2u);
  EXPECT_EQ(count(html, "src=\"data:image/png;base64,iVBORw0KGgo"), 2u);  // PNG signature, embedded
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // nothing fetched from a network
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_NE(html.find("<code>asdm report x.json</code>"), std::string::npos);
  ASSERT_EQ(f.headline.size(), 1u);
  EXPECT_EQ(f.headline[0],
            "student: UNet 25.0% faster than teacher, pipeline 24.0% faster; mean attribute "
            "accuracy 0.980 (reference 0.990), proxy "
            "FID 295 (275)");
  EXPECT_NE(md.find("- " + f.headline[0]), std::string::npos);
  EXPECT_NE(md.find("| candidate | removed | edits |"), std::string::npos);
  EXPECT_NE(md.find("| c1 | 2 | 1 CLME, 0 GRI | 78 | 22.0% | 23.0% | 1.3% | 1.1e-05 |"),
            std::string::npos);
  EXPECT_NE(md.find("![samples: teacher](bench-bench-samples-teacher.png)"), std::string::npos);
  EXPECT_TRUE(fs::exists(d / "out" / "bench-bench-samples-teacher.png"));
  EXPECT_NE(html.find("Phases in order: up_blocks.0 → assembly"),
            std::string::npos);  // the log found beside the artifact
  ASSERT_EQ(f.csv.size(), 6u);   // one table per section
  // The importance CSV: a header and one row per unit, highest score first in the table.
  const std::string csv = slurp(d / "out" / "importance-importance-units.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "unit,kind,tier1_nmse,tier1_ci_lo,tier1_ci_hi,tier1_cosine,tier2,latency_saved_ms");
  EXPECT_EQ(count(csv, "\n"), 1u + test::make_importance()["results"].size());
  EXPECT_NE(csv.find("down_blocks.0.resnets.0,resblock,0.1,0.09,0.11,0.9,,4\n"), std::string::npos);
  const std::string cand = slurp(d / "out" / "candidates-candidates-candidates.csv");
  EXPECT_NE(cand.find("c1,2,1,0,78,0.22,77,0.23,0.013,1.1e-05,5000,9000000,mid_block.resnets.0 "
                      "up_blocks.0.resnets.0\n"),
            std::string::npos);
}

TEST(WriteReport, BenchNamesTheModelsSampledWithACachePlan) {
  const fs::path d = test::scratch_dir("report_cache_plan");
  nlohmann::json bench = test::make_bench(d);
  bench["models"][1]["cache_plan"] = "plan-l1-i3.json";
  write_json_atomic(d / "bench.json", bench);
  const ReportFiles f = write_report({read_artifact(d / "bench.json")}, d / "out", {});
  EXPECT_NE(slurp(f.markdown).find("| student | plan-l1-i3.json |"), std::string::npos)
      << slurp(f.markdown);
}

TEST(WriteReport, EvalMetricsAndQualityAgainstLatencyForTheBenchedModels) {
  const fs::path d = test::scratch_dir("report_eval");
  write_json_atomic(d / "bench.json", test::make_bench(d));
  write_json_atomic(d / "t" / "eval.json", test::make_eval("runs/teacher", "", 12.5, 31.0));
  write_json_atomic(d / "s" / "eval.json",
                    test::make_eval("runs/teacher", "runs/student", 15.75, 30.2));
  write_json_atomic(d / "x" / "eval.json", test::make_eval("elsewhere/other", "", 20, 25));
  const EvalRecord back = EvalRecord::read(d / "s" / "eval.json");
  ASSERT_EQ(back.metrics.size(), 3u);
  EXPECT_EQ(back.find("inception_score")->std, 0.25);
  EXPECT_EQ(back.source.label(), "student");
  const ReportFiles f =
      write_report({read_artifact(d / "bench.json"), read_artifact(d / "t" / "eval.json"),
                    read_artifact(d / "s" / "eval.json"), read_artifact(d / "x" / "eval.json")},
                   d / "out");
  const std::string md = slurp(f.markdown);
  // bench's two; FID and CLIP score against latency; the bench's accuracy and proxy FID.
  EXPECT_EQ(f.charts, 2 + 2 + 2);
  EXPECT_NE(md.find("## Quality: student"), std::string::npos) << md;
  EXPECT_NE(md.find("| IS | 20.5 ± 0.25 | 100 | 10 splits |"), std::string::npos) << md;
  EXPECT_NE(md.find("| FID | 15.75 | 100 | pytorch-fid preprocessing, 2048-d features; reference "
                    "coco.npz (n = 30000) |"),
            std::string::npos)
      << md;
  // The quality-against-latency table comes after the eval sections and pairs two of the three.
  const size_t q = md.find("## Quality against latency");
  ASSERT_NE(q, std::string::npos);
  EXPECT_GT(q, md.rfind("## Quality: "));
  EXPECT_NE(md.find("| student | 151.1 | 75 | 15.75 | 30.2 | 20.5 | – | eval.json |", q),
            std::string::npos)
      << md.substr(q);
  EXPECT_EQ(md.find("| other |", q), std::string::npos);
  EXPECT_NE(std::find(f.headline.begin(), f.headline.end(),
                      "quality of student (n = 100): CLIP score 30.2, FID 15.75, IS 20.5"),
            f.headline.end());
}

TEST(WriteReport, SeveralOfOneTypeGetASectionAndFilesEach) {
  const fs::path d = test::scratch_dir("report_two");
  write_json_atomic(d / "a" / "profile.json", test::make_profile());
  write_json_atomic(d / "b" / "profile.json", test::make_profile());
  const ReportFiles f = write_report(
      {read_artifact(d / "a" / "profile.json"), read_artifact(d / "b" / "profile.json")},
      d / "out");
  EXPECT_EQ(f.charts, 4);
  ASSERT_EQ(f.csv.size(), 2u);
  EXPECT_EQ(f.csv[0].filename(), "profile-profile-units.csv");
  EXPECT_EQ(f.csv[1].filename(), "profile-profile-units-2.csv");
  EXPECT_TRUE(f.headline.empty());
}

TEST(WriteReport, ImportanceWithoutLatencySaysWhatIsMissing) {
  const fs::path d = test::scratch_dir("report_imp");
  auto imp = test::make_importance();
  for (auto& r : imp["results"]) r.erase("latency_saved_ms");
  write_json_atomic(d / "importance.json", imp);
  const ReportFiles f = write_report({read_artifact(d / "importance.json")}, d / "out");
  EXPECT_EQ(f.charts, 0);
  EXPECT_NE(slurp(f.html).find("No latency per unit: run the ablation with --profile"),
            std::string::npos);
  // With a profile in the set, its inclusive times stand in.
  write_json_atomic(d / "profile.json", test::make_profile());
  const ReportFiles g = write_report(
      {read_artifact(d / "importance.json"), read_artifact(d / "profile.json")}, d / "out2");
  EXPECT_EQ(g.charts, 3);
}

TEST(WriteReport, TemporalAnalysisHasItsSectionChartsAndCsv) {
  const fs::path d = test::scratch_dir("report_temporal");
  TemporalArtifact t;
  t.header =
      ArtifactHeader::make(TemporalArtifact::kArtifact, TemporalArtifact::kSchemaVersion, {});
  t.settings.subject = "proxy pipeline teacher";
  t.settings.prompts = 4;
  t.settings.tier = "1";
  t.settings.sampler = "ddim";
  t.settings.steps = t.settings.calls = 3;
  t.settings.guidance = 1;
  t.settings.max_gap = 1;
  t.prompts_done = 4;
  t.complete = true;
  for (const auto& [id, cost, ms] : {std::tuple{"mid_block.resnets.0", 1e-9, 0.2},
                                     std::tuple{"up_blocks.3.resnets.2", 1e-2, 0.4}}) {
    TemporalUnit u;
    u.id = id;
    u.kind = "resblock";
    u.latency_ms = ms;
    u.change = {0.1, 0.05, 0.15, 4};
    u.reuse_cost = {cost, cost / 2, cost * 2, 4};
    u.reuse_nmse = {std::nan(""), cost, cost};
    u.change_sq = {{std::nan(""), 0.01, 0.01}};
    u.per_prompt_change.assign(4, 0.1);
    u.per_prompt_reuse.assign(4, cost);
    t.units.push_back(u);
  }
  t.write(d / "temporal.json");
  const ReportFiles f = write_report({read_artifact(d / "temporal.json")}, d / "out");
  EXPECT_EQ(f.charts, 2);  // cost against ms; per call for the costliest
  const std::string md = slurp(f.markdown);
  EXPECT_NE(md.find("## Temporal redundancy: what each unit costs to reuse"), std::string::npos)
      << md;
  // Cheapest per ms first.
  EXPECT_LT(md.find("| 1 | mid_block.resnets.0 |"), md.find("| 2 | up_blocks.3.resnets.2 |")) << md;
  EXPECT_TRUE(fs::exists(d / "out" / "temporal-temporal-units.csv"));
}

TEST(WriteReport, NothingToReportIsAnError) {
  EXPECT_THROW(write_report({}, test::scratch_dir("report_none")), Error);
}

}  // namespace
}  // namespace asdm::reports
