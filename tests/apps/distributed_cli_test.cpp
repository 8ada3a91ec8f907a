// asdm incubate and ablate over several processes (issue 24): c10d with Gloo over loopback, ranks
// started with torchrun's variables. Two ranks end with the weights of one rank with the same
// global batch, and so does gradient accumulation; a rank killed with SIGKILL stops the job with a
// line naming it, and --resume with one or two ranks continues to the uninterrupted weights; ranks
// that disagree, a WORLD_SIZE without MASTER_ADDR and a taken port are one line each, with the
// checkpoint left as it was; two torchrun agents as two nodes (c10d rendezvous on loopback) run the
// same job. Two ranks of asdm ablate write the one process's importance.json, and
// two ranks of asdm search refine as one process does.
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "incubation/run_state.h"
#include "model/tensor_io.h"
#include "tests/apps/cli_helpers.h"
#include "tests/artifact_compare.h"
#include "tests/free_port.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

using ::asdm::test::free_port;

// One asdm process per entry of `per_rank`, as ranks of one job on 127.0.0.1:`port`, started.
struct Ranks {
  std::vector<pid_t> pids;
  std::vector<fs::path> outs, errs;
  // Waits for every rank: exit codes and output.
  std::vector<Result> wait() const {
    std::vector<Result> results(pids.size());
    for (size_t r = 0; r < pids.size(); ++r) {
      int status = 0;
      ::waitpid(pids[r], &status, 0);
      results[r].rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      results[r].out = read_text_file(outs[r]);
      results[r].err = read_text_file(errs[r]);
    }
    return results;
  }
};

Ranks start_ranks(const std::vector<std::vector<std::string>>& per_rank, int port) {
  const auto dir = test::binary_dir() / "test-scratch" / "cli-io";
  fs::create_directories(dir);
  Ranks k;
  for (size_t r = 0; r < per_rank.size(); ++r) {
    k.outs.push_back(dir / fmt::format("rank{}.{}.{}.out", r, ::getpid(), port));
    k.errs.push_back(dir / fmt::format("rank{}.{}.{}.err", r, ::getpid(), port));
    std::vector<std::string> argv = {test::asdm_exe().string()};
    argv.insert(argv.end(), per_rank[r].begin(), per_rank[r].end());
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(per_rank.size()).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::setenv("ASDM_DIST_TIMEOUT", "120", 1);
      if (!std::freopen(k.outs[r].c_str(), "w", stdout) ||
          !std::freopen(k.errs[r].c_str(), "w", stderr))
        ::_exit(126);
      std::vector<char*> c;
      for (auto& a : argv) c.push_back(a.data());
      c.push_back(nullptr);
      ::execv(c[0], c.data());
      ::_exit(127);
    }
    k.pids.push_back(pid);
  }
  return k;
}

std::vector<Result> run_ranks(const std::vector<std::vector<std::string>>& per_rank, int port) {
  return start_ranks(per_rank, port).wait();
}

// The test world's pipeline and a student built from it, in a folder of the test's own (CTest runs
// the tests of this file in parallel), with the single-process run the others are compared with.
struct Job {
  ProxySetup proxy;
  fs::path student;
  std::vector<std::string> incubate(const fs::path& out, int batch,
                                    const std::vector<std::string>& extra = {}) const;
  fs::path one_rank_run() const;
};

Job setup(const std::string& name) {
  Job s{make_proxy_setup(name, 2), {}};
  s.student = build_student(
      s.proxy, {"down_blocks.1.resnets.1", "up_blocks.2.attentions.0", "mid_block.resnets.0"},
      {"--clme", "--module-steps", "1", "--assembly-steps", "3"});
  return s;
}

// Six steps (three module phases of one, the assembly of three), a global batch of `batch`.
std::vector<std::string> Job::incubate(const fs::path& out, int batch,
                                       const std::vector<std::string>& extra) const {
  const Job& s = *this;
  std::vector<std::string> a = {"-q",
                                "incubate",
                                "--teacher",
                                s.proxy.pipeline.string(),
                                "--student",
                                s.student.string(),
                                "-o",
                                out.string(),
                                "--batch",
                                std::to_string(batch),
                                "--lr",
                                "1e-4",
                                "--checkpoint-every",
                                "2",
                                "--threads",
                                "1",
                                "--no-eval"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// ‖a − b‖ / ‖b‖ over all weights of two trained students.
double relative_difference(const fs::path& a, const fs::path& b) {
  const TensorMap x = read_tensors(a / "unet" / "diffusion_pytorch_model.safetensors");
  const TensorMap y = read_tensors(b / "unet" / "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(x.size(), y.size());
  double num = 0, den = 0;
  for (const auto& [k, v] : y) {
    num += (x.at(k).to(torch::kFloat64) - v.to(torch::kFloat64)).pow(2).sum().item<double>();
    den += v.to(torch::kFloat64).pow(2).sum().item<double>();
  }
  return std::sqrt(num / den);
}

fs::path Job::one_rank_run() const {
  const fs::path o = proxy.dir / "one";
  if (!fs::exists(o / "incubation.json")) {
    const Result r = asdm(incubate(o, 8));
    EXPECT_EQ(r.rc, 0) << r.err;
  }
  return o;
}

TEST(DistributedIncubate, TwoRanksEndWithTheWeightsOfOneRankWithTheSameGlobalBatch) {
  const Job s = setup("distributed_cli_two");
  const fs::path two = s.proxy.dir / "two";
  const auto r = run_ranks({s.incubate(two, 8), s.incubate(two, 8)}, free_port());
  for (const auto& x : r) ASSERT_EQ(x.rc, 0) << x.err;
  EXPECT_LE(relative_difference(two, s.one_rank_run()), 1e-5);
  // Rank 0 alone wrote the log; each line says how the batch was split, and measures the step.
  const auto log = read_incubation_log(two / "incubation.jsonl");
  ASSERT_EQ(log.size(), 6u);
  for (const auto& l : log) {
    EXPECT_EQ(l.ranks, 2);
    EXPECT_EQ(l.accumulate, 1);
    EXPECT_GT(l.samples_per_s, 0);
    EXPECT_GT(l.peak_bytes, 0);
  }
  // The logged losses are the global batch's, as one rank logs them.
  const auto one = read_incubation_log(s.one_rank_run() / "incubation.jsonl");
  EXPECT_NEAR(log.front().losses.at("total"), one.front().losses.at("total"),
              1e-5 * one.front().losses.at("total"));
}

TEST(DistributedIncubate, TorchrunLaunchesTheSameJob) {
  // torchrun's agent serves the store (TORCHELASTIC_USE_AGENT_STORE): every rank is its client.
  const fs::path torchrun = test::python().parent_path() / "torchrun";  // the torch wheel's
  ASSERT_TRUE(fs::exists(torchrun)) << "no torchrun beside " << test::python();
  const Job s = setup("distributed_cli_torchrun");
  const fs::path out = s.proxy.dir / "torchrun";
  std::string cmd =
      fmt::format("OMP_NUM_THREADS=1 {} --nproc-per-node 2 --master-port {} --no-python {}",
                  quote(torchrun.string()), free_port(), quote(test::asdm_exe().string()));
  for (const auto& a : s.incubate(out, 8)) cmd += " " + quote(a);
  cmd += " > " + quote((s.proxy.dir / "torchrun.log").string()) + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_text_file(s.proxy.dir / "torchrun.log");
  EXPECT_LE(relative_difference(out, s.one_rank_run()), 1e-5);
  EXPECT_EQ(read_incubation_log(out / "incubation.jsonl").front().ranks, 2);
}

TEST(DistributedIncubate, TwoTorchrunNodesRendezvousAsOneJob) {
  // Several machines as torchrun runs them, on loopback: one agent per "node" (--nnodes 2, one
  // process each, so LOCAL_RANK is 0 on both), meeting through c10d rendezvous; the ranks come
  // from the rendezvous, not from the command line.
  const fs::path torchrun = test::python().parent_path() / "torchrun";
  ASSERT_TRUE(fs::exists(torchrun)) << "no torchrun beside " << test::python();
  const Job s = setup("distributed_cli_nodes");
  const fs::path out = s.proxy.dir / "nodes";
  std::string node = fmt::format(
      "OMP_NUM_THREADS=1 {} --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint "
      "127.0.0.1:{} --rdzv-id asdm-test --no-python {}",
      quote(torchrun.string()), free_port(), quote(test::asdm_exe().string()));
  for (const auto& a : s.incubate(out, 8)) node += " " + quote(a);
  const fs::path log0 = s.proxy.dir / "node0.log", log1 = s.proxy.dir / "node1.log";
  const std::string cmd = fmt::format(
      "{} > {} 2>&1 & first=$!; {} > {} 2>&1; second=$?; wait $first; exit $(( $? | "
      "second ))",
      node, quote(log0.string()), node, quote(log1.string()));
  ASSERT_EQ(std::system(("bash -c " + quote(cmd)).c_str()), 0)
      << read_text_file(log0) << read_text_file(log1);
  EXPECT_LE(relative_difference(out, s.one_rank_run()), 1e-5);
  EXPECT_EQ(read_incubation_log(out / "incubation.jsonl").front().ranks, 2);
}

TEST(DistributedIncubate, AccumulatedMicroBatchesEqualTheWholeBatch) {
  const Job s = setup("distributed_cli_accumulate");
  const fs::path acc = s.proxy.dir / "accumulated";
  const Result r = asdm(s.incubate(acc, 8, {"--accumulate", "4"}));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_LE(relative_difference(acc, s.one_rank_run()), 1e-5);
  EXPECT_EQ(read_incubation_log(acc / "incubation.jsonl").front().accumulate, 4);
  // Two ranks × two micro-batches of two, with activation checkpointing: the same again.
  const fs::path mixed = s.proxy.dir / "mixed";
  const std::vector<std::string> extra = {"--accumulate", "2", "--activation-checkpointing"};
  const auto rr =
      run_ranks({s.incubate(mixed, 8, extra), s.incubate(mixed, 8, extra)}, free_port());
  for (const auto& x : rr) ASSERT_EQ(x.rc, 0) << x.err;
  EXPECT_LE(relative_difference(mixed, s.one_rank_run()), 1e-5);
}

TEST(DistributedIncubate, AKilledRankStopsTheJobAndResumeContinuesWithOneOrTwoRanks) {
  const Job s = setup("distributed_cli_kill");
  const fs::path killed = s.proxy.dir / "killed";
  const auto r = run_ranks({s.incubate(killed, 8), s.incubate(killed, 8, {"--die-at-step", "3"})},
                           free_port());
  EXPECT_EQ(r[1].rc, 128 + SIGKILL);
  EXPECT_EQ(r[0].rc, 1);
  EXPECT_NE(r[0].err.find("asdm: error: rank 0 of 2: all-reduce of the gradients of global step 4 "
                          "failed: rank 1 (pid "),
            std::string::npos)
      << r[0].err;
  EXPECT_NE(r[0].err.find(") is gone"), std::string::npos) << r[0].err;
  EXPECT_EQ(std::count(r[0].err.begin(), r[0].err.end(), '\n'), 1) << r[0].err;
  ASSERT_EQ(read_json_file(killed / "checkpoint" / "state.json").at("global_step"), 3);

  const fs::path again = s.proxy.dir / "killed_two";
  fs::copy(killed, again, fs::copy_options::recursive);
  std::vector<std::string> resume = s.incubate(killed, 8, {"--resume"});
  const Result one = asdm(resume);
  ASSERT_EQ(one.rc, 0) << one.err;
  EXPECT_LE(relative_difference(killed, s.one_rank_run()), 1e-5);

  std::vector<std::string> resume2 = s.incubate(again, 8, {"--resume"});
  const auto two = run_ranks({resume2, resume2}, free_port());
  for (const auto& x : two) ASSERT_EQ(x.rc, 0) << x.err;
  EXPECT_LE(relative_difference(again, s.one_rank_run()), 1e-5);
  EXPECT_EQ(read_incubation_log(again / "incubation.jsonl").size(), 6u);
}

TEST(DistributedIncubate, BadInputIsOneLineAndLeavesTheCheckpoint) {
  const Job s = setup("distributed_cli_bad");
  // A run stopped at step 2, with its checkpoint: every refused start below leaves it as it is.
  const fs::path out = s.proxy.dir / "bad";
  ASSERT_EQ(asdm(s.incubate(out, 8, {"--stop-after", "2"})).rc, 0);
  const std::string state = read_text_file(out / "checkpoint" / "state.json");

  auto both = [&](const std::vector<Result>& r, const std::string& line) {
    ASSERT_EQ(r.size(), 2u);
    for (const auto& x : r) {
      EXPECT_EQ(x.rc, 1) << x.err;
      EXPECT_EQ(x.err, "asdm: error: " + line + "\n");
    }
    EXPECT_EQ(read_text_file(out / "checkpoint" / "state.json"), state);
  };
  std::vector<std::string> faster = s.incubate(out, 8, {"--resume"});
  *(std::find(faster.begin(), faster.end(), "--lr") + 1) = "2e-4";
  both(run_ranks({s.incubate(out, 8, {"--resume"}), faster}, free_port()),
       "ranks disagree on the incubation settings: rank 1 differs from rank 0: lr = 0.0002 there "
       "but 0.0001 on rank 0 (start every rank the same way)");

  // Another student (the same files, one weight changed) on rank 1.
  const fs::path other = s.proxy.dir / "other_student";
  fs::remove_all(other);
  fs::copy(s.student, other, fs::copy_options::recursive);
  {
    TensorMap w = read_tensors(other / "unet" / "diffusion_pytorch_model.safetensors");
    w.begin()->second.add_(1.0);
    write_tensors(other / "unet" / "diffusion_pytorch_model.safetensors", w);
  }
  std::vector<std::string> theirs = s.incubate(out, 8, {"--resume"});
  *std::find(theirs.begin(), theirs.end(), s.student.string()) = other.string();
  const auto r = run_ranks({s.incubate(out, 8, {"--resume"}), theirs}, free_port());
  EXPECT_EQ(r[1].rc, 1);
  EXPECT_EQ(r[0].rc, 1);
  EXPECT_NE(r[0].err.find("asdm: error: ranks disagree on the student's weights: rank 1 differs "
                          "from rank 0: "),
            std::string::npos)
      << r[0].err;

  // A global batch the ranks cannot split.
  both(run_ranks({s.incubate(out, 8, {"--resume", "--accumulate", "3"}),
                  s.incubate(out, 8, {"--resume", "--accumulate", "3"})},
                 free_port()),
       "the batch of 8 does not split into 2 rank(s) × 3 micro-batch(es) (--accumulate); use a "
       "batch that is a multiple of 6");

  // The launcher's variables.
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("RANK", "0", 1);
  const Result no_addr = asdm(s.incubate(out, 8, {"--resume"}));
  expect_error(no_addr,
               "WORLD_SIZE=2 but MASTER_ADDR is not set: the ranks cannot meet (torchrun sets it; "
               "or export MASTER_ADDR and MASTER_PORT)");
  int held = -1;
  const int taken = free_port(&held);
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", std::to_string(taken).c_str(), 1);
  const Result busy = asdm(s.incubate(out, 8, {"--resume"}));
  ::close(held);
  for (const char* v : {"WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(v);
  EXPECT_EQ(busy.rc, 1);
  EXPECT_EQ(busy.err.rfind(fmt::format("asdm: error: rank 0 of 2: MASTER_PORT {} on 127.0.0.1 is "
                                       "taken (another job?); choose another port",
                                       taken),
                           0),
            0u)
      << busy.err;
  EXPECT_EQ(read_text_file(out / "checkpoint" / "state.json"), state);
}

std::vector<std::string> ablate_args(const ProxySetup& s, const fs::path& out,
                                     const std::vector<std::string>& extra = {}) {
  std::vector<std::string> a = {
      "-q",
      "ablate",
      "--model",
      s.pipeline.string(),
      "--prompts",
      s.prompts.string(),
      "--steps",
      "6",
      "--timesteps",
      "3",
      "--batch",
      "4",
      "--threads",
      "1",
      "--bootstrap",
      "100",
      "--units",
      "down_blocks.0.resnets.0,down_blocks.0.attentions.1,mid_block.resnets.1,"
      "up_blocks.1.resnets.2,up_blocks.3.attentions.2",
      "--group",
      "mid_block.resnets.1+up_blocks.1.resnets.2",
      "-o",
      out.string()};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

TEST(DistributedAblate, TwoRanksWriteTheOneProcessFile) {
  const ProxySetup s = make_proxy_setup("distributed_cli_ablate", 4);
  auto args = [&](const fs::path& out, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> a = {"--tier", "both"};
    a.insert(a.end(), extra.begin(), extra.end());
    return ablate_args(s, out, a);
  };
  const Result one = asdm(args(s.dir / "one.json"));
  ASSERT_EQ(one.rc, 0) << one.err;
  const fs::path two = s.dir / "two.json";
  const auto r = run_ranks({args(two), args(two)}, free_port());
  for (const auto& x : r) ASSERT_EQ(x.rc, 0) << x.err;
  EXPECT_EQ(test::without_run_details(read_json_file(two)),
            test::without_run_details(read_json_file(s.dir / "one.json")));
  EXPECT_EQ(r[0].out, one.out);  // rank 0 prints the table; the other rank prints nothing
  EXPECT_EQ(r[1].out, "");
  for (const auto& e : fs::directory_iterator(s.dir))  // the ranks' shard files are gone
    EXPECT_EQ(e.path().filename().string().find(".shard"), std::string::npos) << e.path();

  const auto bad = run_ranks(
      {args(s.dir / "bad.json", {"--shard", "0/2"}), args(s.dir / "bad.json", {"--shard", "0/2"})},
      free_port());
  for (const auto& x : bad)
    EXPECT_EQ(x.err,
              "asdm: error: --shard with 2 ranks: the ranks split the units themselves (rank r "
              "takes shard r/2)\n");
}

TEST(DistributedAblate, AKilledRankStopsTheOtherAndResumeFinishes) {
  const ProxySetup s = make_proxy_setup("distributed_cli_ablate_kill", 12);
  const fs::path out = s.dir / "two.json";
  const Ranks k = start_ranks(
      {ablate_args(s, out, {"--tier", "2"}), ablate_args(s, out, {"--tier", "2"})}, free_port());
  // Rank 1 is killed once its shard file holds a result; rank 0 stops at the exchange.
  const fs::path shard1 = out.string() + ".shard1of2";
  ASSERT_TRUE(kill_when(k.pids[1], [&] {
    return fs::exists(shard1) && !read_json_file(shard1).at("results").empty();
  })) << "rank 1 finished before it could be killed";
  int status = 0;
  ::waitpid(k.pids[0], &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  const std::string err = read_text_file(k.errs[0]);
  EXPECT_EQ(err.rfind("asdm: error: rank 0 of 2: exchange of the ranks' importance shards failed: "
                      "rank 1 (pid ",
                      0),
            0u)
      << err;
  EXPECT_NE(err.find(") is gone; rank 1 stopped before sending its part"), std::string::npos)
      << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  // Both ranks resume their shards; rank 0 merges them into the one-process file.
  const auto r = run_ranks({ablate_args(s, out, {"--tier", "2", "--resume"}),
                            ablate_args(s, out, {"--tier", "2", "--resume"})},
                           free_port());
  for (const auto& x : r) ASSERT_EQ(x.rc, 0) << x.err;
  ASSERT_EQ(asdm(ablate_args(s, s.dir / "one.json", {"--tier", "2"})).rc, 0);
  EXPECT_EQ(test::without_run_details(read_json_file(out)),
            test::without_run_details(read_json_file(s.dir / "one.json")));
}

TEST(DistributedSearch, TwoRanksRefineAsOneProcess) {
  const SearchSetup ss = make_search_setup("distributed_cli_search", true);
  const ProxySetup& s = ss.proxy;
  const fs::path &profile = ss.profile, &importance = ss.importance;
  auto search = [&](const fs::path& out, bool refine = true) {
    std::vector<std::string> a = {"-q",
                                  "search",
                                  "--profile",
                                  profile.string(),
                                  "--importance",
                                  importance.string(),
                                  "--target-speedup",
                                  "0.2",
                                  "--max-candidates",
                                  "2",
                                  "--threads",
                                  "1",
                                  "-o",
                                  out.string()};
    if (refine) a.insert(a.end(), {"--refine-prompts", s.prompts.string(), "--refine-evals", "9"});
    return a;
  };
  const Result one = asdm(search(s.dir / "one.json"));
  ASSERT_EQ(one.rc, 0) << one.err;
  const fs::path two = s.dir / "two.json";
  const auto r = run_ranks({search(two), search(two)}, free_port());
  for (const auto& x : r) ASSERT_EQ(x.rc, 0) << x.err;
  const auto a = test::without_run_details(read_json_file(s.dir / "one.json"));
  const auto b = test::without_run_details(read_json_file(two));
  EXPECT_EQ(b, a);
  EXPECT_GT(a.at("refinement").at("evaluations").get<int>(), 1);
  EXPECT_EQ(r[0].out, one.out);
  EXPECT_EQ(r[1].out, "");
  // Without a scorer there is nothing to spread.
  const auto bad = run_ranks({search(s.dir / "bad.json", false), search(s.dir / "bad.json", false)},
                             free_port());
  for (const auto& x : bad)
    EXPECT_EQ(x.err,
              "asdm: error: asdm search over 2 ranks spreads the refinement's grouped scores, "
              "which need --refine-prompts or --refine-embeddings; without them run one "
              "process\n");
}

}  // namespace
}  // namespace asdm
