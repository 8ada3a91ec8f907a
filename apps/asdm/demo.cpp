// asdm demo: the whole chain on the proxy world, on a CPU, in minutes — teacher (kept in assets/ or
// trained), profile, ablation, search at the default target, build, a brief incubation, bench and
// report. Each stage is the asdm subcommand a user would run (printed before it runs), as a child
// process of this binary, so the demo's artifacts are the ones the commands make; a stage whose
// output already exists is kept, so an interrupted demo continues where it stopped.
#include <cstdio>
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "proxy/world.h"

namespace asdm::cli {
namespace {

namespace fs = std::filesystem;

struct DemoCli {
  std::string out = "runs/demo", teacher, classifier;
  bool quick = false;
  int threads = 2, incubate_steps = -1, quality_prompts = -1, train_steps = -1;
  double target = 0.22;
};

// The demo's settings: the default world with its kept teacher, or (--quick) the test world trained
// from scratch in seconds.
struct Plan {
  std::string world;
  int resolution, batch, text_tokens, ablate_prompts, incubate_steps, incubate_batch, quality_prompts, train_steps,
      classifier_steps;
  double lr;
};

Plan make_plan(const DemoCli& o) {
  Plan p;
  if (o.quick) {
    p = {"test", 64, 8, 0, 8, 20, 8, 16, 300, 150, 5e-4};
  } else {
    p = {"default", 128, 8, 0, 16, 100, 16, 100, 1800, 0, 2e-4};
  }
  p.text_tokens = proxy::world_spec(p.world).max_tokens;
  if (o.incubate_steps >= 0) p.incubate_steps = o.incubate_steps;
  if (o.quality_prompts >= 0) p.quality_prompts = o.quality_prompts;
  if (o.train_steps >= 0) p.train_steps = o.train_steps;
  return p;
}

// The kept proxy teacher: beside the binary's source tree (build/asdm -> assets/), or under the
// working directory.
fs::path kept_assets() {
  std::error_code ec;
  const fs::path exe = fs::canonical("/proc/self/exe", ec);
  for (const fs::path& root : {exe.parent_path().parent_path(), fs::current_path()})
    if (fs::exists(root / "assets/proxy-default/teacher/proxy.json")) return root / "assets/proxy-default";
  return {};
}

class Runner {
 public:
  Runner(fs::path out, int stages) : out_(std::move(out)), stages_(stages) {}

  // Runs `asdm args...` unless `done` already exists; its stdout goes to logs/<name>.log, its
  // stderr (progress) to the terminal.
  void stage(const std::string& name, const std::vector<std::string>& args, const fs::path& done, const std::string& what) {
    ++index_;
    std::string line = "asdm";
    for (const auto& a : args) line += a.find(' ') == std::string::npos ? " " + a : " '" + a + "'";
    if (!done.empty() && fs::exists(done)) {
      std::fprintf(stderr, "\n[%d/%d] %s: kept (%s exists)\n", index_, stages_, what.c_str(), done.string().c_str());
      return;
    }
    std::fprintf(stderr, "\n[%d/%d] %s\n      $ %s\n", index_, stages_, what.c_str(), line.c_str());
    std::fflush(stderr);
    fs::create_directories(out_ / "logs");
    const fs::path log = out_ / "logs" / (name + ".log");
    const auto t0 = std::chrono::steady_clock::now();
    std::fflush(stdout);
    const pid_t pid = ::fork();
    if (pid < 0) fail("cannot start the {} stage: fork failed", name);
    if (pid == 0) {
      std::FILE* f = std::fopen(log.c_str(), "w");
      if (f) ::dup2(::fileno(f), 1);
      std::error_code ec;
      std::vector<std::string> argv = {fs::canonical("/proc/self/exe", ec).string()};  // argv[0] as artifacts record it
      argv.insert(argv.end(), args.begin(), args.end());
      std::vector<char*> c;
      for (auto& a : argv) c.push_back(a.data());
      c.push_back(nullptr);
      ::execv("/proc/self/exe", c.data());
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail("the {} stage failed ({}; its output: {}); fix the cause and run asdm demo again to continue from this stage", name,
           WIFEXITED(status) ? fmt::format("exit code {}", WEXITSTATUS(status)) : std::string("killed by a signal"), log.string());
    std::fprintf(stderr, "      done in %s (output: %s)\n", hms(s).c_str(), log.string().c_str());
  }

 private:
  fs::path out_;
  int stages_, index_ = 0;
};

// The candidate to build: the least predicted loss among those whose measured speed-up clears the
// target by `margin` (on this 2-core CPU the same removal set measured 20-23% faster in separate
// interleaved runs, so a candidate measured exactly at the target may well bench below it); else
// the fastest measured one that meets the target; else the first, with a warning.
std::string pick_candidate(const fs::path& candidates, double target, double margin) {
  const auto j = read_json_file(candidates);
  const auto& cs = j.at("candidates");
  if (cs.empty()) fail("{} has no candidates", candidates.string());
  std::string best, fastest;
  double best_loss = 0, fastest_speedup = target;
  for (const auto& c : cs) {
    const double measured = c.value("measured_speedup", 0.0), loss = c.value("predicted_loss", 0.0);
    const std::string name = c.at("name").get<std::string>();
    if (measured >= target + margin && (best.empty() || loss < best_loss)) {
      best = name;
      best_loss = loss;
    }
    if (measured >= fastest_speedup) {
      fastest = name;
      fastest_speedup = measured;
    }
  }
  if (best.empty()) best = fastest;
  if (best.empty()) {
    best = cs[0].at("name").get<std::string>();
    log::warn("no candidate measured at least {:.0f}% faster on this machine; building {} (predicted {:.1f}%)", 100 * target, best,
              100 * cs[0].value("predicted_speedup", 0.0));
  }
  return best;
}

void run_demo(const DemoCli& o, const std::vector<std::string>& argv) {
  const Plan p = make_plan(o);
  const fs::path out = o.out;
  fs::create_directories(out);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string threads = std::to_string(o.threads);
  auto path = [&](const std::string& name) { return (out / name).string(); };

  fs::path teacher = o.teacher, classifier = o.classifier;
  bool train_teacher = false, train_classifier = false;
  if (!o.quick && (teacher.empty() || classifier.empty())) {
    if (const fs::path kept = kept_assets(); !kept.empty()) {
      if (teacher.empty()) teacher = kept / "teacher";
      if (classifier.empty()) classifier = kept / "classifier";
    }
  }
  if (teacher.empty()) {
    teacher = path("teacher");
    train_teacher = true;
  }
  if (classifier.empty()) {
    classifier = path("classifier");
    train_classifier = true;
  }
  const int stages = 7 + train_teacher + train_classifier;
  Runner run(out, stages);
  std::fprintf(stderr, "asdm demo: the %s proxy world, %d threads, results in %s\n", p.world.c_str(), o.threads, out.string().c_str());
  if (train_teacher) {
    const bool resume = fs::exists(teacher / "checkpoint");
    std::vector<std::string> a = {"proxy", "train", "--world", p.world, "--out", teacher.string(), "--steps", std::to_string(p.train_steps),
                                  "--seed", "0", "--threads", threads};
    if (resume) a.push_back("--resume");
    run.stage("train", a, teacher / "model_index.json",
              fmt::format("train the proxy teacher ({} steps{})", p.train_steps,
                          p.world == "default" ? "; about 1.9 s each on 2 cores — the kept teacher in assets/ saves this" : ""));
  } else {
    std::fprintf(stderr, "\nteacher: %s (kept; not retrained)\n", teacher.string().c_str());
  }
  if (train_classifier) {
    std::vector<std::string> a = {"proxy", "train-classifier", "--world", p.world, "--out", classifier.string(), "--threads", "1"};
    if (p.classifier_steps > 0) a.insert(a.end(), {"--steps", std::to_string(p.classifier_steps)});
    run.stage("classifier", a, classifier / "train_result.json", "train the attribute classifier");
  }

  // Validation prompts for the ablation: the world's validation set (seed 1001).
  const fs::path prompts = out / "ablation-prompts.txt";
  if (!fs::exists(prompts)) {
    std::string text;
    for (const auto& s : proxy::prompt_set(proxy::world_spec(p.world), 1001, p.ablate_prompts)) text += s + "\n";
    write_file_atomic(prompts, text);
  }
  const std::string res = std::to_string(p.resolution), batch = std::to_string(p.batch), tokens = std::to_string(p.text_tokens);
  run.stage("profile",
            {"profile", "--model", teacher.string(), "--resolution", res, "--batch", batch, "--text-tokens", tokens, "--runs", "20",
             "--warmup", "2", "--threads", threads, "-o", path("profile.json")},
            path("profile.json"), "profile the teacher per unit (timer backend)");
  {
    std::vector<std::string> a = {"ablate", "--model", teacher.string(), "--prompts", prompts.string(), "--profile",
                                  path("profile.json"), "--threads", threads, "-o", path("importance.json")};
    bool complete = false;
    if (fs::exists(path("importance.json"))) {
      complete = read_json_file(path("importance.json")).value("complete", false);
      if (!complete) a.push_back("--resume");
    }
    run.stage("ablate", a, complete ? fs::path(path("importance.json")) : fs::path(),
              fmt::format("score every removable unit (tier 1, {} validation prompts)", p.ablate_prompts));
  }
  run.stage("search",
            {"search", "--profile", path("profile.json"), "--importance", path("importance.json"), "--target-speedup",
             fmt::format("{}", o.target), "--max-candidates", "6", "--measure", "--threads", threads, "-o", path("candidates.json")},
            path("candidates.json"), fmt::format("search removal sets at least {:.0f}% faster, measured against the teacher", 100 * o.target));
  const std::string pick = pick_candidate(path("candidates.json"), o.target, 0.03);
  run.stage("build",
            {"build", "--teacher", teacher.string(), "--candidates", path("candidates.json"), "--pick", pick, "-o", path("student")},
            path("student/schedule.json"),
            fmt::format("build candidate {} (the least predicted loss of those measured at least {:.0f}% faster) with the teacher's weights",
                        pick, 100 * (o.target + 0.03)));
  {
    std::vector<std::string> a = {"incubate", "--teacher", teacher.string(), "--student", path("student"), "-o",
                                  path("student-incubated"), "--steps", std::to_string(p.incubate_steps), "--batch",
                                  std::to_string(p.incubate_batch), "--lr", fmt::format("{}", p.lr), "--one-shot", "--no-eval",
                                  "--threads", threads};
    if (fs::exists(out / "student-incubated/checkpoint")) a.push_back("--resume");
    run.stage("incubate", a, path("student-incubated/incubation.json"),
              fmt::format("incubate the student briefly ({} steps, one-shot, SAS losses)", p.incubate_steps));
  }
  run.stage("bench",
            {"bench", "--models",
             fmt::format("teacher={},student-built={},student-incubated={}", teacher.string(), path("student"), path("student-incubated")),
             "--batch", batch, "--runs", "20", "--pipeline-runs", "5", "--quality-prompts", std::to_string(p.quality_prompts),
             "--classifier", classifier.string(), "--threads", threads, "-o", path("bench.json")},
            path("bench.json"), "bench teacher against student: UNet and pipeline latency (interleaved), memory, quality");
  run.stage("report",
            {"report", path("bench.json"), path("profile.json"), path("importance.json"), path("candidates.json"),
             path("student-incubated/incubation.json"), "-o", path("report"), "--title", "asdm demo: the proxy teacher and its A-SDM student"},
            {}, "write the report");

  // The headline numbers, from bench.json.
  const auto bench = read_json_file(path("bench.json"));
  const auto& models = bench.at("models");
  const auto& t = models[0];
  std::printf("\nasdm demo finished (this run: %s).\nreport: %s\n\n", hms(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()).c_str(),
              (out / "report" / "report.html").string().c_str());
  std::printf("%-20s %12s %10s %14s %10s %9s %12s %9s\n", "", "UNet ms", "UNet", "pipeline ms", "pipeline", "mean acc", "all correct", "FID");
  for (const auto& m : models) {
    const auto q = m.value("quality", nlohmann::json::object());
    const auto pl = m.value("pipeline", nlohmann::json::object());
    std::printf("%-20s %12.1f %9.1f%% %14.1f %9.1f%% %9.3f %12.3f %9.1f\n", m.at("name").get<std::string>().c_str(),
                m.at("unet_ms").at("median").get<double>(), 100 * m.value("unet_speedup", 0.0),
                pl.value("total_ms", nlohmann::json::object()).value("median", 0.0), 100 * pl.value("speedup", 0.0),
                q.value("mean_attribute_accuracy", 0.0), q.value("all_attributes_correct", 0.0), q.value("proxy_fid", 0.0));
  }
  std::printf("\n(speed-ups: 1 - median / the teacher's median (%.1f ms), interleaved runs on this machine)\n",
              t.at("unet_ms").at("median").get<double>());
}

}  // namespace

void add_demo(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<DemoCli>();
  auto* sub = app.add_subcommand(
      "demo",
      "The whole chain on the proxy world, on a CPU: the kept proxy teacher (assets/proxy-default; trained\n"
      "when missing), profile, ablation (tier 1), search at the target with measured candidates, build of the\n"
      "candidate with the least predicted loss among those measured at least 3 points past the target (a margin\n"
      "for this CPU's run-to-run spread), a brief one-shot incubation, bench of teacher, built and incubated\n"
      "student (interleaved latency, quality), and report.html. Each stage is printed as the asdm command it\n"
      "runs; its table goes to <out>/logs/. Stages whose outputs exist are kept, so an interrupted demo\n"
      "continues where it stopped (delete --out to start over). About 5 minutes on 2 cores; --quick trains a\n"
      "teacher of the tiny test world from scratch and runs the chain in about 2.");
  sub->add_option("--out", o->out, "Output folder")->capture_default_str();
  sub->add_flag("--quick", o->quick, "The tiny test world, trained from scratch: the chain in about 2 minutes");
  sub->add_option("--teacher", o->teacher, "A proxy teacher to use instead of the kept one");
  sub->add_option("--classifier", o->classifier, "Its attribute classifier");
  sub->add_option("--target-speedup", o->target, "UNet speed-up the search aims at")->capture_default_str();
  sub->add_option("--incubate-steps", o->incubate_steps, "Incubation steps (default 100; --quick 20)");
  sub->add_option("--quality-prompts", o->quality_prompts, "Prompts of the bench's quality pass (default 100; --quick 16)");
  sub->add_option("--train-steps", o->train_steps, "Teacher training steps when one is trained (default 1800; --quick 300)");
  sub->add_option("--threads", o->threads, "Intra-op CPU threads of every stage")->capture_default_str();
  sub->callback([o, argv] { run_demo(*o, argv); });
}

}  // namespace asdm::cli
