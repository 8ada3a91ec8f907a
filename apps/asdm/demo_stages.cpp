// asdm demo's stages after the profile: ablation, search, build, incubation, bench and report, each
// the library call its command makes (apps/asdm/demo.h).
#include <cmath>

#include "analysis/ablation.h"
#include "analysis/importance.h"
#include "analysis/importance_io.h"
#include "analysis/subject.h"
#include "apps/asdm/demo.h"
#include "apps/asdm/progress.h"
#include "bench/bench.h"
#include "core/log.h"
#include "incubation/incubate.h"
#include "profiler/profile_io.h"
#include "pruner/build_student.h"
#include "pruner/search_candidates.h"
#include "reports/report.h"

namespace asdm::cli {

void run_demo_stages(DemoRunner& run, const DemoCli& o, const DemoPlan& p) {
  namespace fs = std::filesystem;
  const std::string teacher = p.teacher.string();
  {
    const bool complete = importance_complete(p.path("importance.json"));
    const bool resume = !complete && fs::exists(p.path("importance.json"));
    std::vector<std::string> a = {"ablate",
                                  "--model",
                                  teacher,
                                  "--prompts",
                                  p.prompts.string(),
                                  "--profile",
                                  p.path("profile.json"),
                                  "--threads",
                                  p.threads,
                                  "-o",
                                  p.path("importance.json")};
    if (resume) a.push_back("--resume");
    run.stage(
        "ablate", a, complete ? fs::path(p.path("importance.json")) : fs::path(),
        fmt::format("score every removable unit (tier 1, {} validation prompts)", p.ablate_prompts),
        [&](const RunContext& cx) {
          const AblationSubject subject = load_proxy_subject(teacher, p.prompts);
          AblationOptions ao;
          ao.profile = read_profile_latency(p.path("profile.json"));
          ao.sampler.guidance = subject.default_guidance();
          return importance_table(run_ablation(subject, ao, cx, p.path("importance.json"), resume,
                                               ablation_progress(subject, ao)),
                                  0);
        });
  }
  CandidateSearchOptions so;
  so.profile = p.path("profile.json");
  so.importance = p.path("importance.json");
  so.search.target_speedup = o.target;
  so.search.max_candidates = 6;
  so.measure = true;
  run.stage("search",
            {"search", "--profile", so.profile, "--importance", so.importance, "--target-speedup",
             fmt::format("{}", o.target), "--max-candidates", "6", "--measure", "--threads",
             p.threads, "-o", p.path("candidates.json")},
            p.path("candidates.json"),
            fmt::format("search removal sets at least {:.0f}% faster, measured against the teacher",
                        100 * o.target),
            [&](const RunContext& cx) {
              const CandidateSet set =
                  search_candidates(so, {}, cx, {note, count_progress("measuring: forward")});
              set.write(p.path("candidates.json"));
              return candidates_table(set);
            });
  std::string warning;
  const std::string pick =
      pick_measured(CandidateSet::read(p.path("candidates.json")), o.target, 0.03, &warning).name;
  if (!warning.empty()) log::warn("{}", warning);
  BuildOptions bo;
  bo.teacher = teacher;
  bo.candidates = p.path("candidates.json");
  bo.pick = pick;
  bo.output = p.path("student");
  run.stage("build",
            {"build", "--teacher", teacher, "--candidates", bo.candidates, "--pick", pick, "-o",
             bo.output},
            p.path("student/schedule.json"),
            fmt::format("build candidate {} (the least predicted loss of those measured at least "
                        "{:.0f}% faster) with the teacher's weights",
                        pick, 100 * (o.target + 0.03)),
            [&](const RunContext& cx) {
              const Student s = build_student(bo, cx);
              return fmt::format("built {}: {} parameters (teacher {})\n", s.name,
                                 s.inheritance.student_params, s.inheritance.teacher_params);
            });
  {
    IncubateOptions io;
    io.total_steps = p.incubate_steps;
    io.batch = p.incubate_batch;
    io.lr = p.lr;
    io.one_shot = true;
    const bool resume = fs::exists(p.out / "student-incubated/checkpoint");
    std::vector<std::string> a = {"incubate",
                                  "--teacher",
                                  teacher,
                                  "--student",
                                  p.path("student"),
                                  "-o",
                                  p.path("student-incubated"),
                                  "--steps",
                                  std::to_string(p.incubate_steps),
                                  "--batch",
                                  std::to_string(p.incubate_batch),
                                  "--lr",
                                  fmt::format("{}", p.lr),
                                  "--one-shot",
                                  "--no-eval",
                                  "--threads",
                                  p.threads};
    if (resume) a.push_back("--resume");
    run.stage("incubate", a, p.path("student-incubated/incubation.json"),
              fmt::format("incubate the student briefly ({} steps, one-shot, SAS losses)",
                          p.incubate_steps),
              [&](const RunContext& cx) {
                io.context = cx;
                const IncubateResult r =
                    incubate(teacher, p.path("student"), "", p.path("student-incubated"), io,
                             resume, incubate_progress());
                return fmt::format("incubated {} steps in {}\n", r.total_steps, hms(r.seconds));
              });
  }
  // Temporal redundancy on top (issue 23): demo_plan.cpp.
  const std::string student = p.path("student-incubated");
  run_demo_plan_stages(run, o, p);
  BenchOptions bench;
  bench.cache_plans["student-plan"] = p.path("plans/p1.plan.json");
  bench.batch = p.batch;
  bench.runs = 20;
  bench.pipeline_runs = 5;
  bench.quality_prompts = p.quality_prompts;
  bench.classifier = p.classifier.string();
  const std::string models =
      fmt::format("teacher={},student-built={},student-incubated={},student-plan={}", teacher,
                  p.path("student"), student, student);
  run.stage("bench",
            {"bench", "--models", models, "--batch", std::to_string(p.batch), "--runs", "20",
             "--pipeline-runs", "5", "--quality-prompts", std::to_string(p.quality_prompts),
             "--classifier", bench.classifier, "--cache-plan",
             "student-plan=" + bench.cache_plans["student-plan"], "--threads", p.threads, "-o",
             p.path("bench.json")},
            p.path("bench.json"),
            "bench teacher against student (and student + plan): UNet and pipeline latency "
            "(interleaved), memory, quality",
            [&](const RunContext& cx) {
              const auto list =
                  parse_model_list({"teacher=" + teacher, "student-built=" + p.path("student"),
                                    "student-incubated=" + student, "student-plan=" + student});
              bench.progress = bench_progress(list.size(), bench);
              return bench_table(bench_to_file(list, bench, p.path("bench.json"), true, cx));
            });
  const std::vector<std::string> artifacts = {p.path("bench.json"),
                                              p.path("profile.json"),
                                              p.path("importance.json"),
                                              p.path("candidates.json"),
                                              p.path("student-incubated/incubation.json"),
                                              p.path("student-temporal.json")};
  const std::string title = "asdm demo: the proxy teacher and its A-SDM student";
  std::vector<std::string> a = {"report"};
  a.insert(a.end(), artifacts.begin(), artifacts.end());
  a.insert(a.end(), {"-o", p.path("report"), "--title", title});
  run.stage("report", a, {}, "write the report", [&](const RunContext& cx) {
    std::vector<reports::Artifact> docs;
    for (const auto& f : artifacts) docs.push_back(reports::read_artifact(f));
    const auto files = reports::write_report(docs, p.path("report"), {title, cx.argv});
    std::string text;
    for (const auto& h : files.headline) text += h + "\n";
    return text;
  });
}

}  // namespace asdm::cli
