// asdm ablate end to end: a run killed with SIGKILL and resumed gives the file of an uninterrupted
// run; shards merged by `asdm ablate merge` give the one-run file; a real profile gives latency;
// bad input is one line and a non-zero exit with nothing lost.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "tests/apps/cli_helpers.h"
#include "tests/artifact_compare.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

nlohmann::json stripped(const fs::path& file) {
  return test::without_run_details(read_json_file(file));
}

std::vector<std::string> base_args(const ProxySetup& s) {
  return {"-q",          "ablate",
          "--model",     s.pipeline.string(),
          "--prompts",   s.prompts.string(),
          "--steps",     "6",
          "--timesteps", "3",
          "--batch",     "4",
          "--threads",   "1",
          "--bootstrap", "100"};
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

TEST(AblateCli, KilledAndResumedGivesTheUninterruptedFile) {
  const ProxySetup s = make_proxy_setup("ablate_cli_kill", 12);
  const auto args = with(
      base_args(s), {"--tier", "both", "--units",
                     "down_blocks.0.resnets.0,down_blocks.0.attentions.0,down_blocks.1.resnets.1,"
                     "down_blocks.2.attentions.1,down_blocks.3.resnets.0,mid_block.attentions.0,"
                     "up_blocks.0.resnets.2,up_blocks.1.resnets.0,up_blocks.2.attentions.2,"
                     "up_blocks.3.resnets.1,up_blocks.3.attentions.2"});
  const fs::path whole = s.dir / "whole.json", killed = s.dir / "killed.json";
  const Result r = asdm(with(args, {"-o", whole.string()}));
  ASSERT_EQ(r.rc, 0) << r.err;
  // The same run in the background, killed with SIGKILL once a few units are written.
  const pid_t pid = spawn_asdm(with(args, {"-o", killed.string()}));
  ASSERT_GE(pid, 0);
  // Every unit's tier 1 comes first; the kill lands among the tier-2 runs.
  auto with_tier2 = [](const nlohmann::json& doc) {
    size_t n = 0;
    for (const auto& r : doc.at("results")) n += r.contains("tier2");
    return n;
  };
  ASSERT_TRUE(kill_when(pid, [&] {
    return fs::exists(killed) && with_tier2(read_json_file(killed)) >= 3;
  })) << "the run finished before it could be killed";
  const auto partial = read_json_file(killed);
  EXPECT_FALSE(partial.at("complete"));
  EXPECT_EQ(partial.at("results").size(), 11u);
  for (const auto& r : partial.at("results")) EXPECT_TRUE(r.contains("tier1")) << r.at("id");
  EXPECT_GE(with_tier2(partial), 3u);
  EXPECT_LT(with_tier2(partial), 11u);
  // Without --resume the partial file is kept.
  const std::string before = read_text_file(killed);
  expect_error(asdm(with(args, {"-o", killed.string()})),
               killed.string() +
                   " holds the partial results of an unfinished run; continue it with --resume, or "
                   "remove the file");
  EXPECT_EQ(read_text_file(killed), before);
  const Result resumed = asdm(with(args, {"-o", killed.string(), "--resume"}));
  ASSERT_EQ(resumed.rc, 0) << resumed.err;
  EXPECT_EQ(stripped(killed), stripped(whole));
}

TEST(AblateCli, ShardsMergeIntoTheOneRunFileAndShowPrintsIt) {
  const ProxySetup s = make_proxy_setup("ablate_cli_shards", 4);
  const auto args =
      with(base_args(s), {"--units",
                          "down_blocks.0.resnets.0,down_blocks.0.attentions.1,mid_block.resnets.1,"
                          "up_blocks.1.resnets.2,up_blocks.3.attentions.2",
                          "--group", "mid_block.resnets.1+up_blocks.1.resnets.2"});
  ASSERT_EQ(asdm(with(args, {"-o", (s.dir / "one.json").string()})).rc, 0);
  std::vector<std::string> merge = {"ablate", "merge", "-o", (s.dir / "merged.json").string()};
  for (int i = 0; i < 2; ++i) {
    const fs::path f = s.dir / fmt::format("shard{}.json", i);
    const Result r = asdm(with(args, {"--shard", fmt::format("{}/2", i), "-o", f.string()}));
    ASSERT_EQ(r.rc, 0) << r.err;
    merge.push_back(f.string());
  }
  const Result m = asdm(merge);
  ASSERT_EQ(m.rc, 0) << m.err;
  EXPECT_EQ(stripped(s.dir / "merged.json"), stripped(s.dir / "one.json"));
  EXPECT_NE(m.out.find("by tier-1 importance (highest first):"), std::string::npos) << m.out;
  const Result show = asdm({"ablate", "show", (s.dir / "merged.json").string()});
  ASSERT_EQ(show.rc, 0) << show.err;
  EXPECT_EQ(show.out, m.out);
  for (const char* id : {"down_blocks.0.attentions.1", "mid_block.resnets.1+up_blocks.1.resnets.2"})
    EXPECT_NE(show.out.find(id), std::string::npos) << id;
  expect_error(asdm({"ablate", "merge", "-o", (s.dir / "x.json").string(),
                     (s.dir / "shard1.json").string()}),
               "shards missing: 0/2");
}

TEST(AblateCli, ProfileGivesLatencySavedPerUnit) {
  const ProxySetup s = make_proxy_setup("ablate_cli_profile", 3);
  const fs::path profile = s.dir / "profile.json";
  const Result p =
      asdm({"-q", "profile", "--model", s.pipeline.string(), "--runs", "2", "--warmup", "1",
            "--batch", "3", "--resolution", "64", "--text-tokens", "8", "-o", profile.string()});
  ASSERT_EQ(p.rc, 0) << p.err;
  const Result r = asdm(
      with(base_args(s), {"--profile", profile.string(), "--units",
                          "down_blocks.0.resnets.0,mid_block.attentions.0,up_blocks.3.attentions.1",
                          "-o", (s.dir / "imp.json").string()}));
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto doc = read_json_file(s.dir / "imp.json");
  for (const auto& u : doc.at("results")) {
    EXPECT_GT(u.at("latency_saved_ms").get<double>(), 0.0) << u.at("id");
    EXPECT_TRUE(u.at("tier1_per_ms").is_number()) << u.at("id");
  }
  EXPECT_NE(r.out.find("by importance per ms saved (lowest first: the cheapest to remove):"),
            std::string::npos);
}

TEST(AblateCli, BadInputIsOneLineAndNothingIsLost) {
  const ProxySetup s = make_proxy_setup("ablate_cli_bad", 3);
  const fs::path out = s.dir / "imp.json";
  const auto args = with(base_args(s), {"-o", out.string()});
  const Result unknown = asdm(with(args, {"--units", "down_blocks.0.resnets.7"}));
  EXPECT_EQ(unknown.rc, 1);
  EXPECT_EQ(unknown.err.rfind("asdm: error: unit 'down_blocks.0.resnets.7' not found; known: ", 0),
            0u)
      << unknown.err;
  EXPECT_NE(unknown.err.find("down_blocks.0.resnets.0"), std::string::npos) << unknown.err;
  const fs::path empty = s.dir / "empty.txt", words = s.dir / "words.txt";
  std::ofstream(empty) << "\n";
  std::ofstream(words) << "a red circle at the top left\na golden circle at the top left\n";
  expect_error(asdm({"ablate", "--model", s.pipeline.string(), "--prompts", empty.string(), "-o",
                     out.string()}),
               "prompts file " + empty.string() + " has no prompts");
  const Result vocab = asdm(
      {"ablate", "--model", s.pipeline.string(), "--prompts", words.string(), "-o", out.string()});
  EXPECT_EQ(vocab.rc, 1);
  EXPECT_EQ(vocab.err.rfind("asdm: error: " + words.string() + ":2: unknown word 'golden'", 0), 0u)
      << vocab.err;
  expect_error(asdm({"ablate", "--model", s.pipeline.string(), "-o", out.string()}),
               "give one of --prompts (a text file, for a proxy or Stable Diffusion pipeline) or "
               "--embeddings (a "
               "safetensors file, for a bare UNet)");
  expect_error(asdm(with(args, {"--shard", "2/2"})),
               "--shard takes i/n with 0 <= i < n (got '2/2')");
  expect_error(
      asdm({"ablate", "--model", s.dir.string(), "--prompts", s.prompts.string(), "-o",
            out.string()}),
      s.dir.string() +
          " is neither a proxy pipeline (proxy.json) nor a Stable Diffusion pipeline folder "
          "(model_index.json): --prompts needs a text encoder; for a bare UNet pass --embeddings "
          "FILE of precomputed text embeddings (see --help)");
  EXPECT_FALSE(fs::exists(out));
  // A corrupt partial file on resume: one line, and the file as it was.
  std::ofstream(out) << "{\"artifact\": \"importance\", \"results\": [{\"id\": ";
  const std::string junk = read_text_file(out);
  const Result r = asdm(with(args, {"--resume"}));
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err.rfind("asdm: error: cannot resume from " + out.string() + ": ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("the file was left as it is"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
  EXPECT_EQ(read_text_file(out), junk);
}

TEST(AblateCli, HelpAnswersTheQuestions) {
  const Result r = asdm({"ablate", "--help"});
  ASSERT_EQ(r.rc, 0);
  for (const char* s : {"tier 1", "tier 2", "--resume", "--shard", "merge", "--embeddings",
                        "negative_<name>", "--profile", "--top", "--group", "bootstrap"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

}  // namespace
}  // namespace asdm
