// asdm eval end to end (issue 19): a tiny random SD pipeline generates from captions and the
// reference test's random-valued Inception and CLIP score the images; a run killed with SIGKILL and
// resumed gives the uninterrupted run's eval.json (timings aside), two shards merged give it too;
// bad input is one line naming the file, a non-zero exit and no eval.json.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/png.h"
#include "eval/npz.h"
#include "model/tensor_io.h"
#include "tests/apps/cli_helpers.h"
#include "tests/free_port.h"
#include "tests/test_env.h"
#include "tests/tiny_pipeline.h"

namespace asdm {
namespace {

using ::asdm::test::free_port;

fs::path ref_dir() { return test::binary_dir() / "reference" / "eval"; }

// The fields that must agree between runs: everything but the header, paths and timings.
nlohmann::json comparable(const fs::path& eval_json) {
  const auto j = read_json_file(eval_json);
  return {{"n", j["n"]}, {"source", j["source"]}, {"metrics", j["metrics"]}};
}

std::vector<std::string> generate_args(const fs::path& dir, const fs::path& out) {
  return {"eval",
          "generate",
          "--model",
          (dir / "pipe").string(),
          "--captions",
          (dir / "captions.txt").string(),
          "--steps",
          "2",
          "--seed",
          "5",
          "--score-size",
          "24",
          "--inception",
          (ref_dir() / "inception.pth").string(),
          "--fid-dims",
          "64",
          "--no-is",
          "--ref-images",
          (ref_dir() / "images" / "b").string(),
          "--clip",
          (ref_dir() / "clip").string(),
          "--batch",
          "10",
          "--threads",
          "1",
          "-o",
          out.string()};
}

TEST(EvalCli, ResumesAfterSigkillAndShardsMergeToTheOneRunFile) {
  ASSERT_TRUE(fs::exists(ref_dir() / "inception.pth")) << "run reference.generate_eval first";
  const auto dir = test::scratch_dir("eval-cli-resume");
  test::write_tiny_pipeline(dir / "pipe");
  std::string captions;
  const std::vector<std::string> words = {"the red", "of the", "a cat", "red the", "the"};
  for (int i = 0; i < 70; ++i) captions += words[i % 5] + " " + std::to_string(i) + "\n";
  write_file_atomic(dir / "captions.txt", captions);

  auto keep = generate_args(dir, dir / "one");
  keep.push_back("--keep-images");
  const Result one = asdm(keep);
  ASSERT_EQ(one.rc, 0) << one.err;
  int w = 0, h = 0;
  read_image_rgb(dir / "one" / "images" / "000069.png", &w, &h);
  EXPECT_EQ(w, 24);  // --score-size
  EXPECT_EQ(read_json_file(dir / "one" / "images" / "captions.json").size(), 70u);
  const auto want = comparable(dir / "one" / "eval.json");
  for (const char* m : {"fid", "clip_score", "cmmd"})
    EXPECT_TRUE(want["metrics"].contains(m)) << m << " missing: " << want.dump();
  EXPECT_NE(one.out.find("fid"), std::string::npos) << one.out;
  EXPECT_TRUE(fs::exists(dir / "one" / "stats.npz"));
  EXPECT_EQ(read_npz(dir / "one" / "stats.npz").at("mu").shape, (std::vector<int64_t>{64}));

  // Killed once its second batch is on disk, then the same command again.
  const pid_t pid = spawn_asdm(generate_args(dir, dir / "killed"));
  ASSERT_TRUE(kill_when(pid, [&] {
    return fs::exists(dir / "killed" / "features" / "batch-000001.safetensors");
  })) << "the run finished before it could be killed";
  EXPECT_FALSE(fs::exists(dir / "killed" / "eval.json"));
  const Result resumed = asdm(generate_args(dir, dir / "killed"));
  ASSERT_EQ(resumed.rc, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming"), std::string::npos) << resumed.err;
  EXPECT_EQ(comparable(dir / "killed" / "eval.json"), want);

  // Two shards, then merge.
  for (const char* shard : {"0/2", "1/2"}) {
    auto args = generate_args(dir, dir / (std::string("shard") + shard[0]));
    args.insert(args.end(), {"--shard", shard});
    const Result r = asdm(args);
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.err.find("eval merge"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(dir / "shard0" / "eval.json"));
  const Result merged = asdm({"eval", "merge", (dir / "shard0").string(), (dir / "shard1").string(),
                              "-o", (dir / "merged").string(), "--threads", "1"});
  ASSERT_EQ(merged.rc, 0) << merged.err;
  EXPECT_EQ(comparable(dir / "merged" / "eval.json"), want);

  // A resumed run with other settings is refused, naming what differs.
  auto other = generate_args(dir, dir / "one");
  other[other.size() - 5] = "8";  // --batch
  const Result refused = asdm(other);
  EXPECT_NE(refused.rc, 0);
  EXPECT_NE(refused.err.find("differ in: batch"), std::string::npos) << refused.err;
}

TEST(EvalCli, BenchScoresStableDiffusionModelsWithClipAndFidAgainstTheFirst) {
  const auto dir = test::scratch_dir("eval-cli-bench");
  test::write_tiny_pipeline(dir / "pipe");
  std::string prompts;
  for (int i = 0; i < 66; ++i) prompts += "the red " + std::to_string(i) + "\n";
  write_file_atomic(dir / "prompts.txt", prompts);
  const Result r = asdm({"bench",
                         "--models",
                         "teacher=" + (dir / "pipe").string(),
                         "--models",
                         "again=" + (dir / "pipe").string(),
                         "-o",
                         (dir / "bench.json").string(),
                         "--runs",
                         "1",
                         "--warmup",
                         "0",
                         "--pipeline-runs",
                         "0",
                         "--steps",
                         "2",
                         "--quality-prompts",
                         "66",
                         "--prompts",
                         (dir / "prompts.txt").string(),
                         "--pipeline-batch",
                         "11",
                         "--clip",
                         (ref_dir() / "clip").string(),
                         "--inception",
                         (ref_dir() / "inception.pth").string(),
                         "--fid-dims",
                         "64",
                         "--threads",
                         "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto bench = read_json_file(dir / "bench.json");
  const auto& q0 = bench["models"][0]["quality"];
  const auto& q1 = bench["models"][1]["quality"];
  EXPECT_EQ(q0["fid_dims"], 64);
  EXPECT_NEAR(q0["fid_vs_reference"].get<double>(), 0.0, 1e-9);  // itself
  EXPECT_NEAR(q1["fid_vs_reference"].get<double>(), 0.0, 1e-9);  // the same model again
  EXPECT_EQ(q0["clip_score"], q1["clip_score"]);
  // Too few quality prompts for the FID layer: refused before any work.
  const Result few = asdm({"bench", "--models", "teacher=" + (dir / "pipe").string(), "-o",
                           (dir / "few.json").string(), "--quality-prompts", "10", "--inception",
                           (ref_dir() / "inception.pth").string(), "--fid-dims", "64"});
  EXPECT_NE(few.rc, 0);
  EXPECT_NE(few.err.find("at least 65 images"), std::string::npos) << few.err;
  EXPECT_FALSE(fs::exists(dir / "few.json"));
}

// asdm incubate's final eval of a Stable Diffusion student: each UNet in the teacher's pipeline,
// with the CLIP score of its images and their FID against the teacher's, in incubation.json and in
// the report's incubation table.
TEST(EvalCli, IncubationOfAnSdStudentEndsWithClipScoreAndFid) {
  const auto dir = test::scratch_dir("eval-cli-incubate");
  test::write_tiny_pipeline(dir / "pipe");
  const std::string pipe = (dir / "pipe").string();
  fs::create_directories(dir / "images");
  std::vector<uint8_t> rgb(32 * 32 * 3);
  for (int i = 0; i < 2; ++i) {
    for (size_t k = 0; k < rgb.size(); ++k) rgb[k] = uint8_t((k * 29 + i * 71) % 251);
    write_png(dir / "images" / fmt::format("im{}.png", i), rgb.data(), 32, 32);
    write_file_atomic(dir / "images" / fmt::format("im{}.txt", i), "the red cat\n");
  }
  std::string prompts;
  for (int i = 0; i < 66; ++i) prompts += "a cat " + std::to_string(i) + "\n";
  write_file_atomic(dir / "prompts.txt", prompts);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"-q", "build", "--teacher", pipe, "--preset", "base", "-o", (dir / "student").string()},
           {"-q", "latents", "--model", pipe, "--images", (dir / "images").string(), "--threads",
            "1", "-o", (dir / "latents.safetensors").string()},
           {"incubate",
            "--teacher",
            pipe,
            "--student",
            (dir / "student").string(),
            "--data",
            (dir / "latents.safetensors").string(),
            "--steps",
            "1",
            "--batch",
            "2",
            "--one-shot",
            "--threads",
            "1",
            "--eval-n",
            "66",
            "--eval-steps",
            "2",
            "--eval-prompts",
            (dir / "prompts.txt").string(),
            "--clip",
            (ref_dir() / "clip").string(),
            "--inception",
            (ref_dir() / "inception.pth").string(),
            "--fid-dims",
            "64",
            "-o",
            (dir / "incubated").string()},
           {"-q", "report", (dir / "incubated" / "incubation.json").string(), "-o",
            (dir / "report").string()}}) {
    const Result r = asdm(args);
    ASSERT_EQ(r.rc, 0) << args[1] << ": " << r.err;
  }
  const auto eval = read_json_file(dir / "incubated" / "incubation.json")["eval"];
  for (const char* k : {"teacher", "student_built", "student_incubated"}) {
    EXPECT_EQ(eval[k]["samples"], 66) << k;
    EXPECT_GT(eval[k]["clip_score"].get<double>(), 0) << k;
    EXPECT_EQ(eval[k]["fid_dims"], 64) << k;
  }
  EXPECT_NEAR(eval["teacher"]["fid_vs_teacher"].get<double>(), 0.0, 1e-6);  // itself
  EXPECT_LT(eval["student_incubated"]["psnr_vs_teacher_db"].get<double>(), 100);
  const std::string md = read_text_file(dir / "report" / "report.md");
  EXPECT_NE(md.find("| CLIP score | FID vs teacher |"), std::string::npos) << md;
}

TEST(EvalCli, TierTwoAblationRecordsEachUnitsClipScoreDrop) {
  const auto dir = test::scratch_dir("eval-cli-ablate");
  test::write_tiny_pipeline(dir / "pipe");
  write_file_atomic(dir / "prompts.txt", "the red\na cat\nof the\n");
  const Result r =
      asdm({"ablate", "--model", (dir / "pipe").string(), "--prompts",
            (dir / "prompts.txt").string(), "--tier", "2", "--steps", "2", "--timesteps", "2",
            "--units", "down_blocks.0.attentions.0,mid_block.attentions.0", "--bootstrap", "20",
            "--clip", (ref_dir() / "clip").string(), "-o", (dir / "importance.json").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto imp = read_json_file(dir / "importance.json");
  ASSERT_TRUE(imp["teacher"].contains("quality")) << imp["teacher"].dump();
  const double teacher = imp["teacher"]["quality"]["clip_score"];
  ASSERT_EQ(imp["results"].size(), 2u);
  for (const auto& u : imp["results"]) {
    const auto& t2 = u["tier2"];
    ASSERT_TRUE(t2.contains("quality_delta")) << t2.dump();
    EXPECT_NEAR(t2["quality_delta"]["clip_score"].get<double>(),
                t2["quality"]["clip_score"].get<double>() - teacher, 1e-9);
  }
  EXPECT_NE(imp["settings"]["subject"].get<std::string>().find("CLIP score with clip"),
            std::string::npos);
  const Result proxy_clip =
      asdm({"ablate", "--model", (dir / "nothing").string(), "--embeddings", "x.safetensors",
            "--clip", (ref_dir() / "clip").string(), "-o", (dir / "x.json").string()});
  EXPECT_NE(proxy_clip.rc, 0);
}

TEST(EvalCli, CachePlansApplyToGenerateAndEvalGenerate) {
  const auto dir = test::scratch_dir("eval-cli-cache-plan");
  test::write_tiny_pipeline(dir / "pipe");
  const std::string pipe = (dir / "pipe").string();
  Result r = asdm({"cache-plan", "uniform", "--model", pipe, "--level", "1", "--interval", "2",
                   "--steps", "3", "--sampler", "ddim", "-o", (dir / "plan.json").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto gen = [&](const std::string& name, const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"generate",
                                  "--model",
                                  pipe,
                                  "--prompt",
                                  "the red",
                                  "--steps",
                                  "3",
                                  "--scheduler",
                                  "ddim",
                                  "-o",
                                  (dir / (name + ".png")).string(),
                                  "--tensors"};
    a.insert(a.end(), extra.begin(), extra.end());
    return asdm(a);
  };
  ASSERT_EQ(gen("plain", {}).rc, 0);
  r = gen("cached", {"--cache-plan", (dir / "plan.json").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto rec = read_json_file(dir / "cached.json");
  EXPECT_GT(rec["cache_peak_bytes"].get<int64_t>(), 0);
  EXPECT_FALSE(torch::equal(read_tensors(dir / "plain.safetensors").at("images"),
                            read_tensors(dir / "cached.safetensors").at("images")));
  // A plan made for another number of model calls is refused before any work.
  r = gen("wrong", {"--cache-plan", (dir / "plan.json").string(), "--steps", "4"});
  EXPECT_NE(r.rc, 0);
  EXPECT_FALSE(fs::exists(dir / "wrong.png"));
  // eval generate: the plan is part of the run's source and changes the images scored.
  write_file_atomic(dir / "captions.txt", "the red\na cat\n");
  auto eval = [&](const std::string& out, const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"eval",        "generate",
                                  "--model",     pipe,
                                  "--captions",  (dir / "captions.txt").string(),
                                  "--steps",     "3",
                                  "--scheduler", "ddim",
                                  "--clip",      (ref_dir() / "clip").string(),
                                  "-o",          (dir / out).string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return asdm(a);
  };
  ASSERT_EQ(eval("eval-plain", {}).rc, 0);
  r = eval("eval-cached", {"--cache-plan", (dir / "plan.json").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto cached = read_json_file(dir / "eval-cached" / "eval.json");
  EXPECT_EQ(cached["source"]["cache_plan"],
            fs::absolute(dir / "plan.json").lexically_normal().string());
  EXPECT_NE(cached["metrics"]["clip_score"]["value"],
            read_json_file(dir / "eval-plain" / "eval.json")["metrics"]["clip_score"]["value"]);
}

TEST(EvalCli, CachePlanSearchRefinesOnTheClipScore) {
  const auto dir = test::scratch_dir("eval-cli-cache-search-clip");
  test::write_tiny_pipeline(dir / "pipe");
  const std::string pipe = (dir / "pipe").string(), prompts = (dir / "prompts.txt").string(),
                    temporal = (dir / "temporal.json").string(),
                    profile = (dir / "profile.json").string();
  write_file_atomic(prompts, "the red\na cat\nof the\n");
  Result r = asdm({"-q", "ablate", "--temporal", "--model", pipe, "--prompts", prompts, "--steps",
                   "4", "--batch", "3", "--intervals", "2", "--units",
                   "down_blocks.0.attentions.0,mid_block.attentions.0,up_blocks.0.resnets.0",
                   "--threads", "1", "-o", temporal});
  ASSERT_EQ(r.rc, 0) << r.err;
  r = asdm({"-q", "profile", "--model", pipe, "--batch", "2", "--runs", "2", "--warmup", "1", "-o",
            profile});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto search = [&](const std::string& out, const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"cache-plan",
                                  "search",
                                  "--temporal",
                                  temporal,
                                  "--profile",
                                  profile,
                                  "--model",
                                  pipe,
                                  "--target-speedup",
                                  "0.002",
                                  "--max-candidates",
                                  "1",
                                  "--step",
                                  "0.001",
                                  "--baseline-level",
                                  "1",
                                  "--baseline-intervals",
                                  "2",
                                  "--refine-prompts",
                                  prompts,
                                  "--refine-evals",
                                  "3",
                                  "--refine-baselines",
                                  "--threads",
                                  "1",
                                  "-o",
                                  (dir / out).string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return asdm(a);
  };
  // Every plan scored by the drop of its samples' CLIP score from the teacher's, p1 and DeepCache's
  // unit-reuse baseline refined by it.
  r = search("plans", {"--refine-metric", "clip", "--refine-clip", (ref_dir() / "clip").string()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("plan scoring (clip): the teacher's CLIP score is "), std::string::npos)
      << r.err;
  const auto doc = read_json_file(dir / "plans" / "cache_search.json");
  EXPECT_EQ(doc.at("grouped_loss").at("metric"), "clip");
  for (const char* list : {"candidates", "baselines"})
    for (const auto& c : doc.at(list)) {
      EXPECT_TRUE(c.at("grouped_loss").is_number()) << c.dump();
      // A two-run profile of this tiny model has its units add up to more than its forward (up to
      // 152% seen); the skip branch's predicted time stays positive all the same.
      EXPECT_LT(c.at("predicted_speedup").get<double>(), 1.0) << c.dump();
    }
  ASSERT_EQ(doc.at("refinements").size(), 2u);
  const auto& from_baseline = doc.at("refinements")[1];
  EXPECT_EQ(from_baseline.at("from"), "deepcache-l1-k2");
  EXPECT_EQ(doc.at("baselines")[0].at("grouped_loss"), from_baseline.at("start_loss"));
  EXPECT_LE(from_baseline.at("loss").get<double>(), from_baseline.at("start_loss").get<double>());
  // The metric and the CLIP model go together, and FID needs the proxy world's classifier.
  expect_error(search("x", {"--refine-metric", "clip"}),
               "--refine-metric clip and --refine-clip go together (a CLIP model scores the "
               "samples)");
  r = search("y", {"--refine-metric", "fid"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("asdm: error: the fid plan metric needs a proxy pipeline with its "
                       "attribute classifier"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("refining"), std::string::npos) << r.err;  // before any plan is scored
}

TEST(EvalCli, TwoTorchrunRanksShareTheBatchesAndRankZeroWritesTheOneProcessFile) {
  const fs::path torchrun = test::python().parent_path() / "torchrun";  // the torch wheel's
  ASSERT_TRUE(fs::exists(torchrun)) << "no torchrun beside " << test::python();
  const auto dir = test::scratch_dir("eval-cli-torchrun");
  auto args = [&](const fs::path& out) {
    return std::vector<std::string>{"eval",
                                    "images",
                                    (ref_dir() / "images" / "a").string(),
                                    "--captions",
                                    (ref_dir() / "captions.txt").string(),
                                    "--inception",
                                    (ref_dir() / "inception.pth").string(),
                                    "--fid-dims",
                                    "64",
                                    "--no-is",
                                    "--clip",
                                    (ref_dir() / "clip").string(),
                                    "--batch",
                                    "8",
                                    "--threads",
                                    "1",
                                    "-o",
                                    out.string()};
  };
  const Result one = asdm(args(dir / "one"));
  ASSERT_EQ(one.rc, 0) << one.err;
  std::string cmd =
      fmt::format("OMP_NUM_THREADS=1 {} --nproc-per-node 2 --master-port {} --no-python {}",
                  quote(torchrun.string()), free_port(), quote(test::asdm_exe().string()));
  for (const auto& a : args(dir / "ranks")) cmd += " " + quote(a);
  cmd += " > " + quote((dir / "torchrun.log").string()) + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_text_file(dir / "torchrun.log");
  const auto want = comparable(dir / "one" / "eval.json");
  auto got = comparable(dir / "ranks" / "eval.json");
  EXPECT_EQ(got, want);
  EXPECT_EQ(read_json_file(dir / "ranks" / "eval.json")["metrics"]["clip_score"]["n"], 72);
}

TEST(EvalCli, StatsWritesAReferenceThatEvalImagesReads) {
  const auto dir = test::scratch_dir("eval-cli-stats");
  const Result s = asdm({"eval", "stats", (ref_dir() / "images" / "b").string(), "--inception",
                         (ref_dir() / "inception.pth").string(), "--fid-dims", "64", "-o",
                         (dir / "b.npz").string()});
  ASSERT_EQ(s.rc, 0) << s.err;
  const Result e = asdm({"eval", "images", (ref_dir() / "images" / "a").string(), "--inception",
                         (ref_dir() / "inception.pth").string(), "--fid-dims", "64", "--no-is",
                         "--ref-stats", (dir / "b.npz").string(), "-o", (dir / "out").string()});
  ASSERT_EQ(e.rc, 0) << e.err;
  const auto ref = read_json_file(ref_dir() / "reference.json");
  const double fid = read_json_file(dir / "out" / "eval.json")["metrics"]["fid"]["value"];
  EXPECT_NEAR(fid, ref["pytorch_fid.fid64"].get<double>(),
              1e-3 * ref["pytorch_fid.fid64"].get<double>());
}

TEST(EvalCli, BadInputIsOneLineNamingTheFileAndLeavesNoEvalJson) {
  const auto dir = test::scratch_dir("eval-cli-bad");
  const std::string inception = (ref_dir() / "inception.pth").string();
  auto expect_error = [&](const std::vector<std::string>& args, const std::string& says,
                          const std::string& name) {
    const fs::path out = dir / ("out-" + name);
    auto a = args;
    a.insert(a.end(), {"-o", out.string()});
    const Result r = asdm(a);
    EXPECT_NE(r.rc, 0) << name;
    EXPECT_NE(r.err.find(says), std::string::npos) << name << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << name << ": " << r.err;
    EXPECT_FALSE(fs::exists(out / "eval.json")) << name;
  };
  // Images of two sizes.
  fs::create_directories(dir / "mixed");
  fs::copy_file(ref_dir() / "images" / "a" / "0000.png", dir / "mixed" / "0000.png");
  fs::copy_file(ref_dir() / "images" / "b" / "0001.png", dir / "mixed" / "0001.png");
  expect_error({"eval", "images", (dir / "mixed").string(), "--inception", inception, "--fid-dims",
                "64", "--no-is", "--limit", "0"},
               "0001.png' is 80x80", "mixed");
  // An unreadable image.
  fs::create_directories(dir / "broken");
  write_file_atomic(dir / "broken" / "0000.png", "not a png");
  expect_error({"eval", "images", (dir / "broken").string(), "--inception", inception}, "0000.png",
               "broken");
  // Fewer images than the feature dimension.
  expect_error({"eval", "images", (ref_dir() / "images" / "a").string(), "--inception", inception},
               "at least 2049 images", "few");
  // A reference .npz without mu.
  write_npz(dir / "no_mu.npz", {{"sigma", {{64, 64}, std::vector<double>(64 * 64)}}});
  expect_error({"eval", "images", (ref_dir() / "images" / "a").string(), "--inception", inception,
                "--fid-dims", "64", "--ref-stats", (dir / "no_mu.npz").string()},
               "no_mu.npz has no 'mu'", "npz");
  // Captions that do not pair with the images.
  write_file_atomic(dir / "three.txt", "a\nb\nc\n");
  expect_error({"eval", "images", (ref_dir() / "images" / "a").string(), "--clip",
                (ref_dir() / "clip").string(), "--captions", (dir / "three.txt").string()},
               "72 images but 3 captions", "captions");
  // Weights of another architecture.
  expect_error({"eval", "images", (ref_dir() / "images" / "a").string(), "--inception",
                (ref_dir() / "clip" / "model.safetensors").string(), "--fid-dims", "64"},
               "is not the FID Inception-v3", "weights");
}

}  // namespace
}  // namespace asdm
