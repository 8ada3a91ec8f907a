// asdm cache-plan and asdm proxy eval --cache-plan on the kept proxy teacher: DeepCache's uniform
// policy as a file, a plan that reuses nothing samples exactly the teacher, a plan that reuses
// records what it reused and kept, and plans for another model or sampler are one line.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "tests/apps/cli_helpers.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

// The first n prompts of the kept proxy world's validation set, as a prompt file in `dir`.
fs::path first_validation_prompts(const fs::path& dir, int n) {
  const fs::path prompts = dir / "prompts.txt";
  std::ifstream in(test::source_dir() / "configs" / "prompts" / "proxy-default-val.txt");
  std::ofstream out(prompts);
  std::string line;
  for (int i = 0; i < n && std::getline(in, line); ++i) out << line << "\n";
  return prompts;
}

TEST(CachePlanCli, UniformPlansSampleTheTeacherAndRecordTheReuse) {
  const fs::path dir = test::scratch_dir("cache_plan_cli");
  const std::string teacher =
      (test::source_dir() / "assets" / "proxy-default" / "teacher").string();
  const fs::path prompts = first_validation_prompts(dir, 4);
  auto plan = [&](const std::string& name, const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"cache-plan", "uniform", "--model", teacher,
                                  "--steps",    "4",       "-o",      (dir / name).string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return asdm(a);
  };
  auto eval = [&](const std::string& name, const std::vector<std::string>& extra) {
    std::vector<std::string> a = {
        "-q",      "proxy", "eval",      "--model", teacher, "--prompts",          prompts.string(),
        "--steps", "4",     "--threads", "1",       "-o",    (dir / name).string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return asdm(a);
  };
  const Result deep = plan("deep.json", {"--level", "2", "--interval", "2"});
  ASSERT_EQ(deep.rc, 0) << deep.err;
  EXPECT_NE(deep.out.find("r reuses units, s skips the deep part): CrCr"), std::string::npos)
      << deep.out;
  const Result none = plan("none.json", {"--level", "2", "--interval", "1"});
  ASSERT_EQ(none.rc, 0) << none.err;

  ASSERT_EQ(eval("teacher.json", {}).rc, 0);
  ASSERT_EQ(eval("none-eval.json", {"--cache-plan", (dir / "none.json").string()}).rc, 0);
  ASSERT_EQ(eval("deep-eval.json", {"--cache-plan", (dir / "deep.json").string()}).rc, 0);
  const auto t = read_json_file(dir / "teacher.json"), n = read_json_file(dir / "none-eval.json"),
             d = read_json_file(dir / "deep-eval.json");
  for (const char* k : {"proxy_fid", "mean_attribute_accuracy", "attribute_accuracy"})
    EXPECT_EQ(n.at(k), t.at(k)) << k;  // a plan that reuses nothing is the teacher
  EXPECT_EQ(n.at("cache_plan").at("reused"), 0);
  EXPECT_NE(d.at("proxy_fid"), t.at("proxy_fid"));  // stale branches move the samples
  // Two calls of four reuse the 18 units at level 2 and below.
  EXPECT_EQ(d.at("cache_plan").at("reused"), 2 * 18);
  EXPECT_GT(d.at("cache_plan").at("peak_bytes").get<int64_t>(), 0);

  const Result show = asdm({"cache-plan", "show", (dir / "deep.json").string()});
  ASSERT_EQ(show.rc, 0) << show.err;
  EXPECT_NE(show.out.find("4 model calls, 2 reuse; 18 unit(s)"), std::string::npos) << show.out;

  // Mismatches: another sampler length, another model, nothing to reuse.
  expect_error(
      asdm({"proxy", "eval", "--model", teacher, "--prompts", prompts.string(), "--steps", "5",
            "--cache-plan", (dir / "deep.json").string(), "-o", (dir / "x.json").string()}),
      "the cache plan covers 4 model calls, this sampler makes 5 (steps and sampler must "
      "match the plan's)");
  const ProxySetup other = make_proxy_setup("cache_plan_cli_other", 2);
  const Result o = asdm({"cache-plan", "uniform", "--model", other.pipeline.string(), "--level",
                         "1", "--steps", "4", "-o", (dir / "other.json").string()});
  ASSERT_EQ(o.rc, 0) << o.err;
  expect_error(eval("x.json", {"--cache-plan", (dir / "other.json").string()}),
               "the cache plan was made for another model (its teacher config differs)");
  expect_error(plan("x.json", {"--level", "9"}),
               "no unit of " + teacher + " is at resolution level 9 or below");
  expect_error(plan("x.json", {}), "name the units to reuse: --units, --level or --skip-level");
  // DeepCache's skip-branch form: samples, and skips at the calls between.
  const Result skip = plan("skip.json", {"--skip-level", "1", "--interval", "2"});
  ASSERT_EQ(skip.rc, 0) << skip.err;
  EXPECT_NE(skip.out.find("s skips the deep part): CsCs"), std::string::npos) << skip.out;
  ASSERT_EQ(eval("skip-eval.json", {"--cache-plan", (dir / "skip.json").string()}).rc, 0);
  const auto k = read_json_file(dir / "skip-eval.json");
  EXPECT_NE(k.at("proxy_fid"), t.at("proxy_fid"));
  EXPECT_GT(k.at("cache_plan").at("peak_bytes").get<int64_t>(), 0);
  expect_error(plan("x.json", {"--skip-level", "9"}),
               "the cache plan skips from resolution level 9; this model's levels to skip are "
               "1..3");
}

// asdm ablate --temporal, then asdm cache-plan search on its file: plans that check against the
// model and sample, baselines in both DeepCache forms, one interleaved bench with --measure, and
// the errors of an unreachable target and of a file for another number of calls.
TEST(CachePlanCli, TemporalAnalysisFeedsTheSearch) {
  const fs::path dir = test::scratch_dir("cache_plan_cli_search");
  const std::string teacher =
      (test::source_dir() / "assets" / "proxy-default" / "teacher").string();
  const fs::path prompts = first_validation_prompts(dir, 3);
  const std::string temporal = (dir / "temporal.json").string(),
                    profile = (dir / "profile.json").string();
  const Result a = asdm({"ablate",
                         "--temporal",
                         "--model",
                         teacher,
                         "--prompts",
                         prompts.string(),
                         "--steps",
                         "4",
                         "--batch",
                         "3",
                         "--tier",
                         "both",
                         "--intervals",
                         "2",
                         "--units",
                         "mid_block.resnets.0,mid_block.attentions.0,up_blocks.0.resnets.0,"
                         "up_blocks.3.resnets.2",
                         "--threads",
                         "1",
                         "-o",
                         temporal});
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_NE(a.out.find("cheapest to reuse (one-step reuse cost):"), std::string::npos) << a.out;
  EXPECT_NE(a.err.find("ablating: 5/8"), std::string::npos) << a.err;  // 4 calls + 4 units x k2
  const Result show = asdm({"ablate", "show", temporal});
  ASSERT_EQ(show.rc, 0) << show.err;
  EXPECT_NE(show.out.find("up_blocks.3.resnets.2"), std::string::npos) << show.out;
  ASSERT_EQ(asdm({"-q", "profile", "--model", teacher, "--text-tokens", "16", "--runs", "2",
                  "--warmup", "1", "-o", profile})
                .rc,
            0);
  // Times from MACs: a profile of 2 runs on a loaded machine (CTest runs two tests at once) once
  // had one run 8x the other's, and unit times that added up to more than its forward. A low
  // target: these four units are a few percent of the forward.
  times_from_macs(profile);
  const fs::path out = dir / "plans";
  // The search of this test: 2 plans at a low target, DeepCache at level 2, interval 2.
  auto search = [&](const fs::path& to, const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"cache-plan", "search", "--temporal", temporal,
                                  "--profile",  profile,  "--model",    teacher,
                                  "--threads",  "1",      "-o",         to.string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return asdm(a);
  };
  const std::vector<std::string> low = {
      "--target-speedup", "0.002", "--max-candidates",     "2", "--step", "0.001",
      "--baseline-level", "2",     "--baseline-intervals", "2"};
  std::vector<std::string> measure = low;
  measure.insert(measure.end(), {"--measure", "--pipeline-runs", "1"});
  const Result s = search(out, measure);
  ASSERT_EQ(s.rc, 0) << s.err;
  EXPECT_NE(s.out.find("p1 "), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("deepcache-skip-l2-layers1-k2"), std::string::npos) << s.out;
  const auto doc = read_json_file(out / "cache_search.json");
  EXPECT_EQ(doc.at("artifact"), "cache_search");
  ASSERT_GE(doc.at("candidates").size(), 1u);
  EXPECT_GE(doc.at("candidates")[0].at("predicted_speedup").get<double>(), 0.002);
  EXPECT_EQ(doc.at("baselines").size(), 2u);  // unit reuse and skip branch, at interval 2
  // Every plan samples the teacher.
  for (const char* name : {"p1", "deepcache-l2-k2", "deepcache-skip-l2-layers1-k2"}) {
    const fs::path plan = out / (std::string(name) + ".plan.json");
    ASSERT_TRUE(fs::exists(plan)) << plan;
    const Result e = asdm({"-q", "proxy", "eval", "--model", teacher, "--prompts", prompts.string(),
                           "--steps", "4", "--threads", "1", "--cache-plan", plan.string(), "-o",
                           (dir / (std::string(name) + "-eval.json")).string()});
    EXPECT_EQ(e.rc, 0) << name << ": " << e.err;
  }
  // --measure: the teacher and every plan in one interleaved bench.
  const auto bench = read_json_file(out / "bench.json");
  EXPECT_EQ(bench.at("models").size(), 1 + doc.at("candidates").size() + 2);
  EXPECT_EQ(bench.at("models")[1].at("cache_plan"), (out / "p1.plan.json").string());

  // Scored whole on the prompts, and the first plan refined: every plan gets its grouped loss on
  // the search's scale, the refinement is recorded, and a refined plan is a plan like the others.
  const fs::path refined = dir / "refined";
  std::vector<std::string> refine = low;
  refine.insert(refine.end(), {"--refine-prompts", prompts.string(), "--refine-evals", "6"});
  const Result rs = search(refined, refine);
  ASSERT_EQ(rs.rc, 0) << rs.err;
  EXPECT_NE(rs.out.find("grouped loss"), std::string::npos) << rs.out;
  EXPECT_NE(rs.err.find("refining p1: grouped score 1/6"), std::string::npos) << rs.err;
  const auto rdoc = read_json_file(refined / "cache_search.json");
  EXPECT_EQ(rdoc.at("grouped_loss").at("metric"), "eps");
  for (const char* list : {"candidates", "baselines"})
    for (const auto& c : rdoc.at(list)) {
      ASSERT_TRUE(c.at("grouped_loss").is_number()) << c.dump();
      EXPECT_GE(c.at("grouped_loss").get<double>(), 0.0) << c.dump();
      EXPECT_TRUE(fs::exists(refined / c.at("plan").get<std::string>())) << c.dump();
    }
  ASSERT_EQ(rdoc.at("refinements").size(), 1u);
  const auto& ref = rdoc.at("refinements")[0];
  EXPECT_EQ(ref.at("from"), "p1");
  EXPECT_LE(ref.at("evaluations").get<int>(), 6);
  EXPECT_LE(ref.at("loss").get<double>(), ref.at("start_loss").get<double>());
  EXPECT_EQ(rdoc.at("candidates")[0].at("grouped_loss"), ref.at("start_loss"));
  if (!ref.at("name").is_null()) {
    EXPECT_EQ(rdoc.at("candidates")[1].at("name"), "p1r");
    EXPECT_EQ(rdoc.at("candidates")[1].at("refined_from"), "p1");
    EXPECT_EQ(rdoc.at("candidates")[1].at("grouped_loss"), ref.at("loss"));
  }
  // The grouped scores are kept as they are computed: the same search again into the folder (a
  // search killed during its refinement, run again) scores nothing and finds the same plans.
  ASSERT_TRUE(fs::exists(refined / "grouped_scores.json"));
  const Result again = search(refined, refine);
  ASSERT_EQ(again.rc, 0) << again.err;
  EXPECT_NE(again.err.find("grouped score(s) taken from " +
                           (refined / "grouped_scores.json").string() + ", 0 computed"),
            std::string::npos)
      << again.err;
  EXPECT_EQ(again.err.find("teacher pass"), std::string::npos) << again.err;
  auto without_header = [](nlohmann::json j) {
    for (const char* k : {"created", "argv"}) j.erase(k);
    return j;
  };
  EXPECT_EQ(without_header(read_json_file(refined / "cache_search.json")), without_header(rdoc));
  // Other scoring settings (here the metric) do not take them.
  std::vector<std::string> ssim = refine;
  ssim.insert(ssim.end(), {"--refine-metric", "ssim"});
  const Result other = search(refined, ssim);
  ASSERT_EQ(other.rc, 0) << other.err;
  EXPECT_NE(other.err.find("holds scores of other settings"), std::string::npos) << other.err;

  // Scored by the proxy FID of final samples (the teacher's classifier is beside it), with
  // DeepCache's unit-reuse baseline refined too: its score is the refinement's start, and a plan
  // that improved on it is a candidate named after it.
  const fs::path by_fid = dir / "fid";
  std::vector<std::string> fid = low;
  fid.insert(fid.end(), {"--refine-prompts", prompts.string(), "--refine-metric", "fid",
                         "--refine-baselines", "--refine-evals", "3"});
  const Result rf = search(by_fid, fid);
  ASSERT_EQ(rf.rc, 0) << rf.err;
  EXPECT_NE(rf.err.find("plan scoring (fid): the teacher's proxy FID is "), std::string::npos)
      << rf.err;
  EXPECT_NE(rf.err.find("refining deepcache-l2-k2: grouped score 1/3"), std::string::npos)
      << rf.err;
  const auto fdoc = read_json_file(by_fid / "cache_search.json");
  EXPECT_EQ(fdoc.at("grouped_loss").at("metric"), "fid");
  ASSERT_EQ(fdoc.at("refinements").size(), 2u);
  const auto& fref = fdoc.at("refinements")[1];
  EXPECT_EQ(fref.at("from"), "deepcache-l2-k2");
  EXPECT_LE(fref.at("loss").get<double>(), fref.at("start_loss").get<double>());
  EXPECT_EQ(fdoc.at("baselines")[0].at("name"), "deepcache-l2-k2");
  EXPECT_EQ(fdoc.at("baselines")[0].at("grouped_loss"), fref.at("start_loss"));
  for (const char* list : {"candidates", "baselines"})
    for (const auto& c : fdoc.at(list)) EXPECT_GT(c.at("grouped_loss").get<double>(), 0.0);
  if (!fref.at("name").is_null()) {
    const auto& last = fdoc.at("candidates").back();
    EXPECT_EQ(last.at("name"), "deepcache-l2-k2r");
    EXPECT_EQ(last.at("refined_from"), "deepcache-l2-k2");
    EXPECT_EQ(last.at("grouped_loss"), fref.at("loss"));
    EXPECT_TRUE(fs::exists(by_fid / "deepcache-l2-k2r.plan.json"));
  }

  // Refinement options without the prompts to score on: one line, before any search.
  expect_error(search(dir / "x", {"--refine-baselines"}),
               "--refine-baselines: only with --refine-prompts or --refine-embeddings");
  expect_error(
      search(dir / "x", {"--refine-moves", "local", "--refine-metric", "ssim"}),
      "--refine-metric, --refine-moves: only with --refine-prompts or --refine-embeddings");

  const Result far = asdm({"cache-plan", "search", "--temporal", temporal, "--profile", profile,
                           "--model", teacher, "--target-speedup", "0.9", "-o", out.string()});
  EXPECT_EQ(far.rc, 1);
  EXPECT_EQ(
      far.err.rfind(
          "asdm: error: a 90.0% speed-up of the sampling run is out of reach: the best is ", 0),
      0u)
      << far.err;

  // Past what reuses alone reach (every call but the first), removals must come in; --measure
  // builds such a plan's student and benches it with its plan.
  const std::string marker = "the best is ";
  const double reach = std::stod(far.err.substr(far.err.find(marker) + marker.size())) / 100;
  const std::string importance = (dir / "importance.json").string();
  ASSERT_EQ(asdm({"-q", "ablate", "--model", teacher, "--prompts", prompts.string(), "--steps", "4",
                  "--batch", "3", "--timesteps", "2", "--units",
                  "mid_block.resnets.0,mid_block.attentions.0,up_blocks.0.resnets.0,"
                  "up_blocks.3.resnets.2",
                  "--threads", "1", "-o", importance})
                .rc,
            0);
  const fs::path with_removals = dir / "with-removals";
  const Result wr =
      search(with_removals, {"--importance", importance, "--target-speedup",
                             fmt::format("{:.6f}", reach * 1.15), "--max-candidates", "1",
                             "--baseline-intervals", "0", "--measure", "--pipeline-runs", "1"});
  ASSERT_EQ(wr.rc, 0) << wr.err;
  const auto wdoc = read_json_file(with_removals / "cache_search.json");
  ASSERT_FALSE(wdoc.at("candidates")[0].at("removed").empty()) << wdoc.dump();
  EXPECT_TRUE(fs::exists(with_removals / "p1.arch.json"));
  const auto wbench = read_json_file(with_removals / "bench.json");
  ASSERT_EQ(wbench.at("models").size(), 2u);
  EXPECT_EQ(wbench.at("models")[1].at("path"), (with_removals / "p1.student").string());
  EXPECT_EQ(wbench.at("models")[1].at("cache_plan"), (with_removals / "p1.plan.json").string());

  expect_error(
      asdm({"proxy", "eval", "--model", teacher, "--prompts", prompts.string(), "--steps", "5",
            "--cache-plan", (out / "p1.plan.json").string(), "-o", (dir / "x.json").string()}),
      "the cache plan covers 4 model calls, this sampler makes 5 (steps and sampler must "
      "match the plan's)");
  expect_error(asdm({"ablate", "--temporal", "--model", teacher, "--prompts", prompts.string(),
                     "--steps", "4", "--shard", "0/2", "-o", (dir / "y.json").string()}),
               "--temporal scores units one by one on one process: no --shard, --group(s), --top "
               "or --rank-from");
}

TEST(CachePlanCli, BenchComparesTheTeacherWithAndWithoutAPlan) {
  const fs::path dir = test::scratch_dir("cache_plan_cli_bench");
  const std::string teacher =
      (test::source_dir() / "assets" / "proxy-default" / "teacher").string();
  const std::string plan = (dir / "plan.json").string();
  ASSERT_EQ(asdm({"-q", "cache-plan", "uniform", "--model", teacher, "--level", "1", "--interval",
                  "2", "--steps", "4", "-o", plan})
                .rc,
            0);
  std::vector<std::string> args = {"-q",
                                   "bench",
                                   "--models",
                                   "teacher=" + teacher + ",cached=" + teacher,
                                   "--batch",
                                   "2",
                                   "--runs",
                                   "1",
                                   "--warmup",
                                   "0",
                                   "--pipeline-runs",
                                   "1",
                                   "--steps",
                                   "4",
                                   "--quality-prompts",
                                   "4",
                                   "--threads",
                                   "1",
                                   "-o",
                                   (dir / "bench.json").string()};
  std::vector<std::string> with_plan = args;
  with_plan.insert(with_plan.end(), {"--cache-plan", "cached=" + plan});
  const Result r = asdm(with_plan);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = read_json_file(dir / "bench.json");
  const auto& m = j.at("models");
  EXPECT_FALSE(m[0].contains("cache_plan"));
  EXPECT_EQ(m[1].at("cache_plan"), plan);
  EXPECT_TRUE(m[1].contains("pipeline"));
  // The same weights sampled with stale deep branches: close to the teacher's images, not equal.
  const double psnr = m[1].at("quality").at("psnr_vs_reference_db").get<double>();
  EXPECT_GT(psnr, 20.0);
  EXPECT_LT(m[1].at("quality").at("ssim_vs_reference").get<double>(), 1.0);

  std::vector<std::string> unknown = args;
  unknown.insert(unknown.end(), {"--cache-plan", "other=" + plan});
  expect_error(asdm(unknown), "--cache-plan names model 'other', which is not benched");
  std::vector<std::string> steps = with_plan;
  *(std::find(steps.begin(), steps.end(), "--steps") + 1) = "6";
  expect_error(asdm(steps),
               "--cache-plan for 'cached': the cache plan covers 4 model calls, this sampler makes "
               "6 (steps and sampler must match the plan's)");
}

}  // namespace
}  // namespace asdm
