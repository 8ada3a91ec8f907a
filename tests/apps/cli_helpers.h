#pragma once
// Running the built asdm binary from tests: exit code, stdout and stderr.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "core/artifact.h"
#include "proxy/pipeline.h"
#include "proxy/world.h"
#include "pruner/candidates.h"
#include "tests/test_env.h"

namespace asdm {

namespace fs = std::filesystem;

struct Result {
  int rc = -1;
  std::string out, err;
};

inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline Result asdm(const std::vector<std::string>& args) {
  static int n = 0;
  const auto dir = test::binary_dir() / "test-scratch" / "cli-io";
  fs::create_directories(dir);
  const auto out = dir / fmt::format("out.{}.{}", ::getpid(), n),
             err = dir / fmt::format("err.{}.{}", ::getpid(), n++);
  std::string cmd = quote(test::asdm_exe().string());
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " > " + quote(out.string()) + " 2> " + quote(err.string()) + " < /dev/null";
  const int status = std::system(cmd.c_str());
  Result r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_text_file(out);
  r.err = read_text_file(err);
  return r;
}

// Starts asdm with `args` in the background and returns its pid. Its stdout goes to `stdout_to`
// when given (stderr is inherited).
inline pid_t spawn_asdm(const std::vector<std::string>& args, const std::string& stdout_to = {}) {
  std::vector<std::string> argv = {test::asdm_exe().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!stdout_to.empty()) {
      const int fd = ::open(stdout_to.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || ::dup2(fd, 1) < 0) ::_exit(126);
    }
    std::vector<char*> c;
    for (auto& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    ::execv(c[0], c.data());
    ::_exit(127);
  }
  return pid;
}

// Polls `ready` (every 5 ms, for up to 120 s), then kills `pid` with SIGKILL and reaps it. True
// when the process died of the signal (false: it had already finished).
inline bool kill_when(pid_t pid, const std::function<bool()>& ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (ready()) break;
    } catch (const std::exception&) {  // a file being written
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status);
}

// A failed command: exit code 1, one line on stderr, that line as expected.
inline void expect_error(const Result& r, const std::string& line) {
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "asdm: error: " + line + "\n");
}

// A randomly initialised proxy pipeline of the test world, saved, with a prompt file.
struct ProxySetup {
  fs::path dir, pipeline, prompts;
};

inline ProxySetup make_proxy_setup(const std::string& name, int prompts) {
  ProxySetup s;
  s.dir = test::scratch_dir(name);
  s.pipeline = s.dir / "pipeline";
  s.prompts = s.dir / "prompts.txt";
  auto p = proxy::ProxyPipeline::create(proxy::world_spec("test"), 9);
  p.save(s.pipeline);
  std::ofstream out(s.prompts);
  for (const auto& c : proxy::prompt_set(p.world, 1001, prompts)) out << c << "\n";
  return s;
}

// A candidates.json with one candidate "c1" of ArchSpec `arch` (JSON), written through the artifact
// struct the search writes, so that its fields are the ones asdm build reads.
inline nlohmann::json one_candidate(const nlohmann::json& arch) {
  CandidateSet set;
  set.header = ArtifactHeader::make(CandidateSet::kArtifact, CandidateSet::kSchemaVersion, {});
  CandidateEntry c;
  c.name = "c1";
  c.arch = arch_spec_from_json(arch);
  const auto removed = c.arch.removed_units();
  c.removed.assign(removed.begin(), removed.end());
  set.candidates.push_back(c);
  return set.to_json();
}

// A student of the test-world pipeline, built by asdm build from a candidate that removes `units`;
// `extra` are further asdm build flags (e.g. --clme).
inline fs::path build_student(const ProxySetup& s, const std::vector<std::string>& units,
                              const std::vector<std::string>& extra = {}) {
  nlohmann::json edits = nlohmann::json::array();
  for (const auto& id : units) edits.push_back({{"op", "remove"}, {"unit", id}});
  const nlohmann::json arch = {
      {"artifact", "arch_spec"},
      {"schema_version", 1},
      {"teacher_config", read_json_file(s.pipeline / "unet" / "config.json")},
      {"edits", edits}};
  write_json_atomic(s.dir / "candidates.json", one_candidate(arch));
  const fs::path student = s.dir / "student";
  std::vector<std::string> args = {"-q",           "build",
                                   "--teacher",    s.pipeline.string(),
                                   "--candidates", (s.dir / "candidates.json").string(),
                                   "-o",           student.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  const Result r = asdm(args);
  EXPECT_EQ(r.rc, 0) << r.err;
  return student;
}

// A test-world pipeline with a profile and a tier-1 importance run of it, for asdm search.
struct SearchSetup {
  ProxySetup proxy;
  fs::path profile, importance;
};

// Replaces a profile's measured medians with times from each unit's MACs (and the forward's with
// their sum plus a fixed rest), so that a search over it does not depend on the load the profile
// was measured under: under parallel CTest one unit's median once came out 40x its twins'.
inline void times_from_macs(const fs::path& profile) {
  nlohmann::json j = read_json_file(profile);
  double total = 0.5;
  for (auto& u : j.at("units")) {
    const double ms = 0.02 + 2e-7 * u.at("macs").get<double>();
    u["inclusive_ms"]["median"] = ms;
    u["exclusive_ms"]["median"] = ms;
    total += ms;
  }
  j["unobserved_forward_ms"]["median"] = total;
  write_json_atomic(profile, j);
}

// deterministic_times: the profile's times come from MACs (times_from_macs), for tests that
// assert what a search finds rather than how a measurement goes.
inline SearchSetup make_search_setup(const std::string& name, bool deterministic_times = false) {
  SearchSetup s;
  s.proxy = make_proxy_setup(name, 3);
  s.profile = s.proxy.dir / "profile.json";
  s.importance = s.proxy.dir / "importance.json";
  const Result p = asdm({"-q", "profile", "--model", s.proxy.pipeline.string(), "--resolution",
                         "64", "--batch", "2", "--text-tokens", "8", "--runs", "3", "--warmup", "1",
                         "--threads", "1", "-o", s.profile.string()});
  EXPECT_EQ(p.rc, 0) << p.err;
  if (deterministic_times && p.rc == 0) times_from_macs(s.profile);
  const Result a = asdm({"-q", "ablate", "--model", s.proxy.pipeline.string(), "--prompts",
                         s.proxy.prompts.string(), "--steps", "4", "--timesteps", "2", "--threads",
                         "1", "-o", s.importance.string()});
  EXPECT_EQ(a.rc, 0) << a.err;
  return s;
}

}  // namespace asdm
