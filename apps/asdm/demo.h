#pragma once
// asdm demo's parts (apps/asdm/demo.cpp, demo_stages.cpp): its options and plan, and the stage
// runner: each stage is printed as the asdm command that does the same work, then run in this
// process through the library call that command makes; what the command would print goes to
// <out>/logs/<stage>.log. A stage whose output exists is kept.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "apps/asdm/cli_util.h"
#include "core/artifact.h"
#include "core/error.h"
#include "model/runtime.h"

namespace asdm::cli {

struct DemoCli {
  std::string out = "runs/demo", teacher, classifier;
  bool quick = false;
  int threads = 2, incubate_steps = -1, quality_prompts = -1, train_steps = -1;
  double target = 0.22, plan_target = 0.25;
};

// The demo's settings: the default world with its kept teacher, or (--quick) the test world
// trained from scratch in seconds.
struct DemoSettings {
  std::string world;
  int resolution, batch, ablate_prompts, incubate_steps, incubate_batch, quality_prompts,
      train_steps, classifier_steps;
  double lr;
};

// The settings and where the run's files are.
struct DemoPlan : DemoSettings {
  std::filesystem::path out, teacher, classifier, prompts;  // prompts: the ablation's
  std::string threads;
  int text_tokens = 0;  // the world's
  std::string path(const std::string& name) const { return (out / name).string(); }
};

class DemoRunner {
 public:
  DemoRunner(std::filesystem::path out, int stages) : out_(std::move(out)), stages_(stages) {}

  // The artifacts' header for a stage: the equivalent command line as argv.
  RunContext context(const std::vector<std::string>& args) const {
    std::error_code ec;
    std::vector<std::string> argv = {std::filesystem::canonical("/proc/self/exe", ec).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return make_run_context(argv, "cpu");
  }

  // Runs `run` (which returns what the command prints) unless `done` exists. An asdm::Error is
  // the stage's failure: the demo stops, naming the stage and its log; a rerun continues here.
  void stage(const std::string& name, const std::vector<std::string>& args,
             const std::filesystem::path& done, const std::string& what,
             const std::function<std::string(const RunContext&)>& run) {
    ++index_;
    std::string line = "asdm";
    for (const auto& a : args) line += a.find(' ') == std::string::npos ? " " + a : " '" + a + "'";
    if (!done.empty() && std::filesystem::exists(done)) {
      std::fprintf(stderr, "\n[%d/%d] %s: kept (%s exists)\n", index_, stages_, what.c_str(),
                   done.string().c_str());
      return;
    }
    std::fprintf(stderr, "\n[%d/%d] %s\n      $ %s\n", index_, stages_, what.c_str(), line.c_str());
    std::fflush(stderr);
    std::filesystem::create_directories(out_ / "logs");
    const std::filesystem::path log = out_ / "logs" / (name + ".log");
    const auto t0 = std::chrono::steady_clock::now();
    std::string text;
    try {
      text = run(context(args));
    } catch (const Error& e) {
      write_file_atomic(log, fmt::format("asdm: error: {}\n", e.what()));
      // asdm <stage> exits with code 1 on such an error.
      fail(
          "the {} stage failed (exit code 1; its output: {}): {}; fix the cause and run asdm demo "
          "again to continue from this stage",
          name, log.string(), e.what());
    }
    write_file_atomic(log, text);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "      done in %s (output: %s)\n", hms(s).c_str(), log.string().c_str());
  }

 private:
  std::filesystem::path out_;
  int stages_, index_ = 0;
};

// The stages after the profile (demo_stages.cpp): ablate, search, build, incubate, the student's
// profile, temporal analysis and cache plan, bench, report.
void run_demo_stages(DemoRunner& run, const DemoCli& o, const DemoPlan& p);
// The student's profile, temporal analysis and cache plan (demo_plan.cpp): plans/p1.plan.json.
void run_demo_plan_stages(DemoRunner& run, const DemoCli& o, const DemoPlan& p);

}  // namespace asdm::cli
