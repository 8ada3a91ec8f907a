// asdm search end to end on a test-world pipeline with a real profile and importance: candidates
// meet the target, --measure times them, and bad input is one clear line.
#include <map>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "tests/apps/cli_helpers.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

TEST(SearchCli, CandidatesMeetTheTargetAndAreMeasured) {
  const SearchSetup s = make_search_setup("search_cli");
  const fs::path out = s.proxy.dir / "candidates.json";
  const Result r = asdm({"-q",
                         "search",
                         "--profile",
                         s.profile.string(),
                         "--importance",
                         s.importance.string(),
                         "--target-speedup",
                         "0.2",
                         "--max-candidates",
                         "3",
                         "--measure",
                         "--runs",
                         "2",
                         "--warmup",
                         "1",
                         "--validate",
                         "3",
                         "--threads",
                         "1",
                         "-o",
                         out.string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = read_json_file(out);
  EXPECT_EQ(j.at("artifact"), "candidates");
  ASSERT_GE(j.at("candidates").size(), 1u);
  EXPECT_LE(j.at("candidates").size(), 3u);
  for (const auto& c : j.at("candidates")) {
    EXPECT_GE(c.at("predicted_speedup").get<double>(), 0.2);
    EXPECT_GT(c.at("removed").size(), 0u);
    EXPECT_EQ(c.at("arch").at("edits").size(), c.at("removed").size());
    EXPECT_GT(c.at("measured_ms").at("median").get<double>(), 0);
    EXPECT_TRUE(c.at("prediction_error").is_number());
    EXPECT_LT(c.at("params").get<int64_t>(), j.at("teacher").at("params").get<int64_t>());
  }
  EXPECT_NE(r.out.find("pred ms"), std::string::npos) << r.out;
  EXPECT_GT(j.at("front").size(), 1u);
  // --validate: the predictor's error on random removal sets.
  ASSERT_EQ(j.at("validation").at("sets").size(), 3u);
  for (const auto& v : j.at("validation").at("sets")) {
    EXPECT_GT(v.at("measured_ms").at("median").get<double>(), 0);
    EXPECT_TRUE(v.at("error").is_number());
  }
  EXPECT_NE(r.out.find("random removal sets"), std::string::npos) << r.out;

  // --allow clme: candidates carry clme edits, priced by timing them; each still meets the target.
  const fs::path with_clme = s.proxy.dir / "candidates-clme.json";
  const Result c = asdm({"-q", "search", "--profile", s.profile.string(), "--importance",
                         s.importance.string(), "--target-speedup", "0.2", "--max-candidates", "3",
                         "--allow", "clme", "--threads", "1", "-o", with_clme.string()});
  ASSERT_EQ(c.rc, 0) << c.err;
  const auto k = read_json_file(with_clme);
  EXPECT_EQ(k.at("replacements"), nlohmann::json::array({"clme"}));
  std::map<std::string, double> extra;  // "unit<expert,expert": measured extra ms
  for (const auto& rc : k.at("replacement_costs"))
    extra[rc.at("unit").get<std::string>() + "<" + rc.at("experts").get<std::string>()] =
        rc.at("extra_ms");
  int clme_edits = 0;
  for (const auto& cand : k.at("candidates")) {
    EXPECT_GE(cand.at("predicted_speedup").get<double>(), 0.2);
    double sum = 0;
    for (const auto& e : cand.at("arch").at("edits")) {
      if (e.at("op") != "clme") continue;
      ++clme_edits;
      std::string key = e.at("unit").get<std::string>() + "<";
      for (size_t i = 0; i < e.at("experts").size(); ++i)
        key += (i ? "," : "") + e.at("experts")[i].get<std::string>();
      sum += extra.at(key);
    }
    EXPECT_NEAR(cand.at("replacement_ms").get<double>(), sum, 1e-9);
  }
  EXPECT_EQ(clme_edits > 0, !k.at("replacement_costs").empty());

  // --allow gri: every large-enough self-attention is timed as GRI, and placed only where faster.
  const fs::path with_gri = s.proxy.dir / "candidates-gri.json";
  const Result g = asdm({"-q",
                         "search",
                         "--profile",
                         s.profile.string(),
                         "--importance",
                         s.importance.string(),
                         "--target-speedup",
                         "0.2",
                         "--max-candidates",
                         "2",
                         "--allow",
                         "gri",
                         "--gri-window",
                         "4",
                         "--gri-min-tokens",
                         "64",
                         "--threads",
                         "1",
                         "-o",
                         with_gri.string()});
  ASSERT_EQ(g.rc, 0) << g.err;
  const auto gj = read_json_file(with_gri);
  std::map<std::string, double> gri_extra;
  for (const auto& rc : gj.at("replacement_costs")) {
    EXPECT_EQ(rc.at("kind"), "gri");
    gri_extra[rc.at("unit").get<std::string>()] = rc.at("extra_ms");
  }
  EXPECT_FALSE(gri_extra.empty());
  for (const auto& cand : gj.at("candidates"))
    for (const auto& e : cand.at("arch").at("edits"))
      if (e.at("op") == "gri") {
        EXPECT_LT(gri_extra.at(e.at("unit").get<std::string>()), 0.0) << e.dump();
      }

  // Refinement: the first candidate's set re-scored as a group on the importance run's prompts.
  const fs::path refined = s.proxy.dir / "candidates-refined.json";
  const Result f = asdm({"-q", "search", "--profile", s.profile.string(), "--importance",
                         s.importance.string(), "--target-speedup", "0.2", "--max-candidates", "2",
                         "--refine-prompts", s.proxy.prompts.string(), "--refine-evals", "3",
                         "--threads", "1", "-o", refined.string()});
  ASSERT_EQ(f.rc, 0) << f.err;
  const auto rj = read_json_file(refined);
  const auto& ref = rj.at("refinement");
  EXPECT_LE(ref.at("evaluations").get<int>(), 3);
  EXPECT_GT(ref.at("start_grouped_loss").get<double>(), 0);
  EXPECT_LE(ref.at("grouped_loss").get<double>(), ref.at("start_grouped_loss").get<double>());
  EXPECT_EQ(ref.at("swaps").empty(), ref.at("removed") == ref.at("start"));
  EXPECT_EQ(rj.at("candidates")[0].at("removed"), ref.at("removed"));

  // GRI scored: with scoring prompts each GRI unit gets a tier-1 score and is a third choice in the
  // search; a candidate's GRI units are GRI edits of its ArchSpec, never also removed, and their
  // scores are part of its predicted loss.
  const fs::path scored = s.proxy.dir / "candidates-gri-scored.json";
  const std::vector<std::string> gri_scored = {"search",
                                               "--profile",
                                               s.profile.string(),
                                               "--importance",
                                               s.importance.string(),
                                               "--target-speedup",
                                               "0.2",
                                               "--max-candidates",
                                               "3",
                                               "--allow",
                                               "gri",
                                               "--gri-window",
                                               "4",
                                               "--gri-min-tokens",
                                               "64",
                                               "--refine-prompts",
                                               s.proxy.prompts.string(),
                                               "--refine-evals",
                                               "1",
                                               "--threads",
                                               "1",
                                               "-o",
                                               scored.string()};
  std::vector<std::string> quiet = {"-q"};
  quiet.insert(quiet.end(), gri_scored.begin(), gri_scored.end());
  const Result q = asdm(quiet);
  ASSERT_EQ(q.rc, 0) << q.err;
  const auto qj = read_json_file(scored);
  std::map<std::string, double> gri_score;
  for (const auto& g : qj.at("gri_scores")) {
    EXPECT_GT(g.at("score").get<double>(), 0)
        << g.dump();  // a 4x4 window with pooling is not full attention
    if (g.at("searched").get<bool>()) gri_score[g.at("unit").get<std::string>()] = g.at("score");
  }
  EXPECT_FALSE(qj.at("gri_scores").empty());
  for (const auto& cand : qj.at("candidates")) {
    std::set<std::string> edits_gri, removed;
    for (const auto& e : cand.at("arch").at("edits"))
      if (e.at("op") == "gri") edits_gri.insert(e.at("unit").get<std::string>());
    for (const auto& id : cand.at("removed")) removed.insert(id.get<std::string>());
    double loss = 0;
    std::set<std::string> listed;
    for (const auto& id : cand.at("gri")) {
      listed.insert(id.get<std::string>());
      EXPECT_FALSE(removed.count(id.get<std::string>())) << id;
      loss += gri_score.at(id.get<std::string>());
    }
    EXPECT_EQ(listed, edits_gri);
    EXPECT_GE(cand.at("predicted_loss").get<double>(), loss - 1e-15);
  }
  EXPECT_NE(qj.at("predicted_loss").get<std::string>().find("GRI units' scores"),
            std::string::npos);

  // The grouped scores (GRI's and the refinement's) are kept beside the output as they are
  // computed: the same search again scores nothing and finds the same scores (the replacement
  // blocks' timings are measured again).
  const fs::path kept = s.proxy.dir / "candidates-gri-scored.grouped_scores.json";
  ASSERT_TRUE(fs::exists(kept));
  const Result again = asdm(gri_scored);
  ASSERT_EQ(again.rc, 0) << again.err;
  EXPECT_NE(again.err.find("grouped score(s) taken from " + kept.string() + ", 0 computed"),
            std::string::npos)
      << again.err;
  EXPECT_EQ(again.err.find("teacher pass"), std::string::npos) << again.err;
  const auto aj = read_json_file(scored);
  EXPECT_EQ(aj.at("refinement"), qj.at("refinement"));
  ASSERT_EQ(aj.at("gri_scores").size(), qj.at("gri_scores").size());
  for (size_t i = 0; i < qj.at("gri_scores").size(); ++i)
    EXPECT_EQ(aj.at("gri_scores")[i].at("score"), qj.at("gri_scores")[i].at("score"));
}

TEST(SearchCli, BadInputIsOneLine) {
  const SearchSetup s = make_search_setup("search_cli_bad");
  const fs::path out = s.proxy.dir / "c.json";
  const std::vector<std::string> base = {"search",       "--profile",           s.profile.string(),
                                         "--importance", s.importance.string(), "-o",
                                         out.string()};
  auto with = [&](const std::vector<std::string>& more) {
    auto a = base;
    a.insert(a.end(), more.begin(), more.end());
    return asdm(a);
  };
  const Result far = with({"--target-speedup", "0.99"});
  EXPECT_EQ(far.rc, 1);
  EXPECT_EQ(far.err.rfind(
                "asdm: error: target speedup 0.990 is unreachable: the best reachable is 0.", 0),
            0u)
      << far.err;
  const Result keep = with({"--keep", "down_blocks.0.resnets.5"});
  EXPECT_EQ(keep.err.rfind("asdm: error: unit 'down_blocks.0.resnets.5' not found; known: ", 0), 0u)
      << keep.err;
  // --graphs needs a profile taken with graphs (else predicted and measured times differ in kind),
  // and a profile taken with them needs a CUDA device to measure on.
  expect_error(with({"--measure", "--graphs"}),
               fmt::format("--graphs measures CUDA-graph replays, but {} was profiled eagerly: "
                           "predicted and measured times would be of different kinds (profile "
                           "with asdm profile --graphs)",
                           s.profile.string()));
  auto graphed = read_json_file(s.profile);
  graphed["mode"]["cuda_graphs"] = true;
  write_json_atomic(s.proxy.dir / "graphed.json", graphed);
  expect_error(asdm({"search", "--profile", (s.proxy.dir / "graphed.json").string(), "--importance",
                     s.importance.string(), "-o", out.string(), "--measure"}),
               "measuring a profile taken with --graphs needs a CUDA device (--device cuda): CUDA "
               "graphs hold GPU work; on the cpu every forward runs eagerly");
  // Importance of another model.
  auto imp = read_json_file(s.importance);
  nlohmann::json foreign = imp["results"][0];  // a complete entry, for a unit this model lacks
  foreign["id"] = "down_blocks.9.resnets.0";
  foreign["units"] = {"down_blocks.9.resnets.0"};
  foreign["kind"] = "resblock";
  imp["results"].push_back(foreign);
  write_json_atomic(s.proxy.dir / "foreign.json", imp);
  expect_error(asdm({"search", "--profile", s.profile.string(), "--importance",
                     (s.proxy.dir / "foreign.json").string(), "-o", out.string()}),
               "the importance scores are for another model: it has no down_blocks.9.resnets.0");
  // A profile of another model (the tiny config has no class embedding).
  const fs::path tiny = s.proxy.dir / "tiny-profile.json";
  ASSERT_EQ(asdm({"-q", "profile", "--model", test::config_path("tiny").string(), "--resolution",
                  "64", "--runs", "1", "--warmup", "0", "-o", tiny.string()})
                .rc,
            0);
  const Result other =
      asdm({"search", "--profile", tiny.string(), "--importance", s.importance.string(), "--model",
            s.proxy.pipeline.string(), "-o", out.string()});
  EXPECT_EQ(other.rc, 1);
  EXPECT_EQ(
      other.err.rfind(
          "asdm: error: " + tiny.string() + " is a profile of another model: no times for ", 0),
      0u)
      << other.err;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace asdm
