// asdm demo's stages for temporal redundancy on top of the student (issue 23): the incubated
// student's profile at the pipeline's sampling shape (one image), its temporal analysis (tier 1)
// and a cache plan searched on it; the bench then samples the student with plan p1.
#include "analysis/subject.h"
#include "analysis/temporal.h"
#include "apps/asdm/demo.h"
#include "apps/asdm/progress.h"
#include "profiler/profile_io.h"
#include "profiler/profile_stage.h"
#include "pruner/cache_search.h"

namespace asdm::cli {

void run_demo_plan_stages(DemoRunner& run, const DemoCli& o, const DemoPlan& p) {
  namespace fs = std::filesystem;
  const std::string student = p.path("student-incubated");
  {
    ProfileOptions po;
    po.resolution = p.resolution;
    po.batch = 1;
    po.text_tokens = p.text_tokens;
    po.runs = 20;
    po.warmup = 2;
    run.stage("profile-student",
              {"profile", "--model", student, "--resolution", std::to_string(p.resolution),
               "--batch", "1", "--text-tokens", std::to_string(p.text_tokens), "--runs", "20",
               "--warmup", "2", "--threads", p.threads, "-o", p.path("student-profile.json")},
              p.path("student-profile.json"),
              "profile the incubated student at the pipeline's batch (one image)",
              [&](const RunContext& cx) {
                const auto a = profile_until_consistent(
                    [&] { return profile_model(student, po, "cpu", "fp32", cx); }, 3, note);
                a.write(p.path("student-profile.json"));
                return profile_table(a.report);
              });
  }
  {
    const fs::path out = p.path("student-temporal.json");
    bool complete = false;
    try {
      complete = fs::exists(out) && TemporalArtifact::read(out).complete;
    } catch (const Error&) {
    }
    const bool resume = !complete && fs::exists(out);
    std::vector<std::string> a = {"ablate",    "--temporal",
                                  "--model",   student,
                                  "--prompts", p.prompts.string(),
                                  "--profile", p.path("student-profile.json"),
                                  "--batch",   "16",
                                  "--threads", p.threads,
                                  "-o",        out.string()};
    if (resume) a.push_back("--resume");
    run.stage("temporal", a, complete ? out : fs::path(),
              fmt::format("score reusing each of the student's units across the 25 sampler "
                          "steps (tier 1, {} validation prompts)",
                          p.ablate_prompts),
              [&](const RunContext& cx) {
                const AblationSubject subject = load_proxy_subject(student, p.prompts);
                TemporalOptions to;
                to.profile = read_profile_latency(p.path("student-profile.json"));
                to.sampler.guidance = subject.default_guidance();
                AblationOptions ao;  // for the progress line
                return temporal_table(
                    run_temporal(subject, to, cx, out, resume, ablation_progress(subject, ao)), 0);
              });
  }
  CacheSearchOptions cs;
  cs.temporal = p.path("student-temporal.json");
  cs.profile = p.path("student-profile.json");
  cs.model = student;
  cs.search.target_speedup = o.plan_target;
  cs.search.max_candidates = 1;
  cs.baseline_intervals = {3};
  run.stage("cache-plan",
            {"cache-plan", "search", "--temporal", cs.temporal, "--profile", cs.profile, "--model",
             student, "--target-speedup", fmt::format("{}", o.plan_target), "--max-candidates", "1",
             "--baseline-intervals", "3", "-o", p.path("plans")},
            p.path("plans/cache_search.json"),
            fmt::format("search a cache plan on the student, its sampling run at least {:.0f}% "
                        "faster",
                        100 * o.plan_target),
            [&](const RunContext& cx) {
              const CacheSearchOutput r = search_cache_plans(cs, p.path("plans"), cx);
              return temporal_search_table(r.result, r.baselines);
            });
}

}  // namespace asdm::cli
