// asdm demo: the whole chain on the proxy world, on a CPU, in minutes — teacher (kept in assets/ or
// trained), profile, ablation, search at the default target, build, a brief incubation, bench and
// report. Each stage is the library call its asdm command makes, printed as that command
// (apps/asdm/demo.h), so the demo's artifacts are the ones the commands make; a stage whose
// output already exists is kept, so an interrupted demo continues where it stopped.
#include <cstdio>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "apps/asdm/commands.h"
#include "apps/asdm/demo.h"
#include "apps/asdm/progress.h"
#include "bench/bench_result.h"
#include "profiler/profile_stage.h"
#include "proxy/records.h"
#include "proxy/world.h"

namespace asdm::cli {
namespace {

namespace fs = std::filesystem;

DemoPlan make_plan(const DemoCli& o) {
  DemoPlan p;
  static_cast<DemoSettings&>(p) =
      o.quick ? DemoSettings{"test", 64, 8, 8, 20, 8, 16, 300, 150, 5e-4}
              : DemoSettings{"default", 128, 8, 16, 100, 16, 100, 1800, 0, 2e-4};
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
    if (fs::exists(root / "assets/proxy-default/teacher/proxy.json"))
      return root / "assets/proxy-default";
  return {};
}

void run_demo(const DemoCli& o) {
  DemoPlan p = make_plan(o);
  const fs::path out = p.out = o.out;
  fs::create_directories(out);
  const auto t0 = std::chrono::steady_clock::now();
  set_threads(o.threads);
  const std::string threads = p.threads = std::to_string(o.threads);
  auto path = [&](const std::string& name) { return p.path(name); };
  const fs::path kept = o.quick ? fs::path() : kept_assets();
  fs::path teacher = o.teacher, classifier = o.classifier;
  if (teacher.empty() && !kept.empty()) teacher = kept / "teacher";
  if (classifier.empty() && !kept.empty()) classifier = kept / "classifier";
  const bool train_teacher = teacher.empty(), train_classifier = classifier.empty();
  if (train_teacher) teacher = path("teacher");
  if (train_classifier) classifier = path("classifier");
  p.teacher = teacher;
  p.classifier = classifier;
  DemoRunner run(out, 10 + train_teacher + train_classifier);
  std::fprintf(stderr, "asdm demo: the %s proxy world, %d threads, results in %s\n",
               p.world.c_str(), o.threads, out.string().c_str());
  if (train_teacher) {
    proxy::TrainOptions to;
    to.world = p.world;
    to.steps = p.train_steps;
    to.seed = 0;
    const bool resume = fs::exists(teacher / "checkpoint");
    std::vector<std::string> a = {"proxy",     "train",
                                  "--world",   p.world,
                                  "--out",     teacher.string(),
                                  "--steps",   std::to_string(p.train_steps),
                                  "--seed",    "0",
                                  "--threads", threads};
    if (resume) a.push_back("--resume");
    run.stage("train", a, teacher / "model_index.json",
              fmt::format("train the proxy teacher ({} steps{})", p.train_steps,
                          p.world == "default" ? "; about 1.9 s each on 2 cores — the kept "
                                                 "teacher in assets/ saves this"
                                               : ""),
              [&](const RunContext&) {
                proxy::train_proxy(teacher, to, resume, train_progress());
                return fmt::format("trained {} steps into {}\n", p.train_steps, teacher.string());
              });
  } else {
    std::fprintf(stderr, "\nteacher: %s (kept; not retrained)\n", teacher.string().c_str());
  }
  if (train_classifier) {
    std::vector<std::string> a = {"proxy", "train-classifier",  "--world",   p.world,
                                  "--out", classifier.string(), "--threads", "1"};
    if (p.classifier_steps > 0) a.insert(a.end(), {"--steps", std::to_string(p.classifier_steps)});
    run.stage("classifier", a, classifier / "train_result.json", "train the attribute classifier",
              [&](const RunContext& cx) {
                set_threads(1);  // as the command runs it (--threads 1)
                const auto r = proxy::train_classifier(p.world, classifier, p.classifier_steps, 77,
                                                       cx, classifier_progress());
                set_threads(o.threads);
                return fmt::format(
                    "held-out accuracy (all attributes right, 1000 images): {:.4f}\n",
                    r.holdout_accuracy);
              });
  }
  // Validation prompts for the ablation: the world's validation set (seed 1001).
  const fs::path prompts = p.prompts = out / "ablation-prompts.txt";
  if (!fs::exists(prompts)) {
    std::string text;
    for (const auto& s : proxy::prompt_set(proxy::world_spec(p.world), 1001, p.ablate_prompts))
      text += s + "\n";
    write_file_atomic(prompts, text);
  }
  ProfileOptions po;
  po.resolution = p.resolution;
  po.batch = p.batch;
  po.text_tokens = p.text_tokens = proxy::world_spec(p.world).max_tokens;
  po.runs = 20;
  po.warmup = 2;
  po.progress = count_progress("profiling: forward");
  run.stage("profile",
            {"profile", "--model", teacher.string(), "--resolution", std::to_string(p.resolution),
             "--batch", std::to_string(p.batch), "--text-tokens", std::to_string(po.text_tokens),
             "--runs", "20", "--warmup", "2", "--threads", threads, "-o", path("profile.json")},
            path("profile.json"), "profile the teacher per unit (timer backend)",
            [&](const RunContext& cx) {
              const auto a = profile_until_consistent(
                  [&] { return profile_model(teacher.string(), po, "cpu", "fp32", cx); }, 3, note);
              a.write(path("profile.json"));
              return profile_table(a.report);
            });
  run_demo_stages(run, o, p);
  std::printf(
      "\nasdm demo finished (this run: %s).\nreport: %s\n\n",
      hms(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()).c_str(),
      (out / "report" / "report.html").string().c_str());
  std::fputs(headline_table(BenchResult::read(path("bench.json"))).c_str(), stdout);
}

constexpr const char* kHelp =
    R"(The whole chain on the proxy world, on a CPU: the kept proxy teacher (assets/proxy-default;
trained when missing), its profile and ablation (tier 1), a search at --target-speedup with measured
candidates, the build of the candidate with the least predicted loss among those measured at least
3 points past the target (a margin for a CPU's run-to-run spread), a brief one-shot incubation, the
student's temporal analysis and a cache plan searched on it, a bench of the teacher, the built and
incubated student and the student with its plan (interleaved latency, quality), and report.html.
Each stage runs in this process through the library call its asdm command makes, and is printed as
that command; what the command prints goes to <out>/logs/. Stages whose outputs exist are kept, so
an interrupted demo continues where it stopped (delete --out to start over). About 2 minutes on 2
cores with the kept teacher (training one takes about 20 more); --quick trains a teacher of the
tiny test world from scratch and runs the chain in about 1.)";

}  // namespace

void add_demo(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<DemoCli>();
  auto* sub = app.add_subcommand("demo", kHelp);
  sub->add_option("--out", o->out, "Output folder")->capture_default_str()->check(output_folder());
  sub->add_flag("--quick", o->quick,
                "The tiny test world, trained from scratch: the chain in about 1 minute");
  sub->add_option("--teacher", o->teacher, "A proxy teacher to use instead of the kept one");
  sub->add_option("--classifier", o->classifier, "Its attribute classifier");
  sub->add_option("--target-speedup", o->target, "UNet speed-up the search aims at")
      ->capture_default_str();
  sub->add_option("--plan-speedup", o->plan_target,
                  "Sampling-run speed-up the student's cache plan aims at")
      ->capture_default_str();
  sub->add_option("--incubate-steps", o->incubate_steps,
                  "Incubation steps (default 100; --quick 20)");
  sub->add_option("--quality-prompts", o->quality_prompts,
                  "Prompts of the bench's quality pass (default 100; --quick 16)");
  sub->add_option("--train-steps", o->train_steps,
                  "Teacher training steps when one is trained (default 1800; --quick 300)");
  sub->add_option("--threads", o->threads, "Intra-op CPU threads of every stage")
      ->capture_default_str();
  sub->callback([o] { run_demo(*o); });
}

}  // namespace asdm::cli
