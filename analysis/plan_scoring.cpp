#include "analysis/plan_scoring.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "analysis/group_scoring.h"
#include "analysis/sample_metrics.h"
#include "analysis/sampling.h"
#include "analysis/subject.h"
#include "analysis/temporal_record.h"
#include "core/error.h"
#include "core/sha256.h"
#include "model/branch_cache.h"
#include "model/unet.h"

namespace asdm {

const std::vector<std::string>& plan_metrics() {
  static const std::vector<std::string> m{"eps", "ssim", "fid", "clip"};
  return m;
}

std::string plan_metric_definition(const std::string& metric) {
  if (metric == "eps")
    return "sum over the run's model calls of epsilon's normalised MSE against the teacher's, the "
           "whole plan applied along the teacher's trajectories; mean over prompts";
  if (metric == "ssim")
    return "1 - SSIM of the final samples, sampled with the whole plan from each prompt's noise, "
           "against the teacher's; mean over prompts";
  if (metric == "fid")
    return "proxy FID of the final samples, sampled with the whole plan from each prompt's noise, "
           "against clean renders of the prompts (all prompts together; the teacher's own is the "
           "plan that reuses nothing)";
  if (metric == "clip")
    return "the teacher's mean CLIP score of its final samples against their prompts minus the "
           "plan's, sampled with the whole plan from each prompt's noise";
  fail("unknown plan metric '{}' (known: eps, ssim, fid, clip)", metric);
}

bool plan_metric_scores_quality(const std::string& metric) {
  return metric == "fid" || metric == "clip";
}

namespace {

// A subject without the quality metric `metric` scores.
[[noreturn]] void refuse_subject(const std::string& metric, const AblationSubject& s) {
  fail("the {} plan metric needs {}; the scoring subject is a {}", metric,
       metric == "fid" ? "a proxy pipeline with its attribute classifier (a classifier/ folder "
                         "beside the pipeline)"
                       : "a Stable Diffusion pipeline and a CLIP model (--refine-clip)",
       s.description());
}

}  // namespace

struct PlanScorer::Impl {
  const AblationSubject& s;
  PlanScoreOptions o;
  SamplerOptions so;
  int calls = 0;
  double seconds = 0, teacher = std::nan("");
  std::vector<std::vector<int>> batches;
  // Per batch: the teacher's state, timestep and epsilon at every call ("eps"), its final samples
  // (all metrics; "ssim" compares with them, "fid" and "clip" score the teacher on them).
  std::vector<std::vector<at::Tensor>> states, eps;
  std::vector<double> times;
  std::vector<at::Tensor> finals;

  at::Tensor noise(const std::vector<int>& idx) const { return batch_noise(s, o.seed, idx); }
  bool whole() const { return plan_metric_scores_quality(o.metric); }
  // The proxy FID ("fid") or mean CLIP score ("clip") of final samples, one tensor per batch, for
  // every prompt.
  double quality(const std::vector<at::Tensor>& samples) const {
    std::vector<int> all(size_t(s.num_prompts()));
    for (int i = 0; i < s.num_prompts(); ++i) all[size_t(i)] = i;
    const std::string key = o.metric == "fid" ? "proxy_fid" : "clip_score";
    const auto q = s.quality(torch::cat(samples), all, o.seed);
    if (!q.count(key)) refuse_subject(o.metric, s);
    return q.at(key);
  }
};

PlanScorer::PlanScorer(const AblationSubject& subject, const PlanScoreOptions& options)
    : impl_(new Impl{subject, options, {}, 0, 0, std::nan(""), {}, {}, {}, {}, {}}) {
  Impl& m = *impl_;
  plan_metric_definition(options.metric);  // unknown metrics: the error
  if (options.batch < 1) fail("batch must be at least 1 (got {})", options.batch);
  if (m.whole() && !subject.has_quality()) refuse_subject(options.metric, subject);
  if (options.metric == "fid" && subject.num_prompts() < 2)
    fail("the fid plan metric needs at least 2 prompts (got {})", subject.num_prompts());
  if (options.sampler.guidance != 1.0 && !subject.has_unconditional())
    fail("guidance {} needs unconditional inputs (negative embeddings), or use guidance 1",
         options.sampler.guidance);
  m.so = sampler_for(subject, options.sampler);
  validate(m.so, subject.scheduler().schedule);
  m.calls = model_calls(m.so);
  m.batches = prompt_batches(subject.num_prompts(), options.batch);
  torch::InferenceMode guard;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& idx : m.batches) {
    const Denoiser model = denoiser(subject, idx, options.sampler.guidance, nullptr);
    std::vector<at::Tensor> xs, es;
    std::vector<double> ts;
    const Denoiser recording = [&](const at::Tensor& x, double t) {
      const at::Tensor out = model(x, t);
      if (options.metric == "eps") {
        xs.push_back(x.clone());
        es.push_back(epsilon(subject, x, out, t));
      }
      ts.push_back(t);
      return out;
    };
    m.finals.push_back(sample(recording, m.noise(idx), subject.scheduler().schedule, m.so));
    ASDM_CHECK(int(ts.size()) == m.calls, "the sampler made another number of model calls");
    m.states.push_back(std::move(xs));
    m.eps.push_back(std::move(es));
    m.times = ts;
  }
  if (m.whole()) m.teacher = m.quality(m.finals);
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

PlanScorer::~PlanScorer() = default;

int PlanScorer::calls() const { return impl_->calls; }
double PlanScorer::teacher_seconds() const { return impl_->seconds; }
double PlanScorer::teacher_quality() const { return impl_->teacher; }

double PlanScorer::score(const CachePlan& plan) const {
  const Impl& m = *impl_;
  // The plan's model: this subject's, plus removals.
  ArchSpec model = m.s.unet().spec();
  const size_t own = model.edits.size();
  if (plan.model.edits.size() < own ||
      !std::equal(model.edits.begin(), model.edits.end(), plan.model.edits.begin()))
    fail("the cache plan is for another architecture than the scoring model's");
  std::vector<std::string> removed;
  for (size_t i = own; i < plan.model.edits.size(); ++i) {
    const Edit& e = plan.model.edits[i];
    if (e.op != Edit::Op::kRemove)
      fail("the cache plan's model has edits other than removals beyond the scoring model's");
    removed.push_back(e.unit);
    model.edits.push_back(e);
  }
  plan.check(model, m.calls);
  torch::InferenceMode guard;
  Bypass bypass(removed);
  double total = 0;
  int n = 0;
  std::vector<at::Tensor> finals;  // "fid", "clip"
  for (size_t b = 0; b < m.batches.size(); ++b) {
    const std::vector<int>& idx = m.batches[b];
    const Denoiser model_fn = denoiser(m.s, idx, m.o.sampler.guidance, &bypass);
    BranchCache cache(plan);
    BranchCacheGuard attach(&cache);
    if (m.o.metric == "eps") {
      // Epsilon after guidance, one row per prompt (as temporal.json's one-step costs).
      for (int c = 0; c < m.calls; ++c) {
        const at::Tensor& x = m.states[b][c];
        const at::Tensor e = epsilon(m.s, x, model_fn(x, m.times[c]), m.times[c]);
        for (double v : normalised_mse(e, m.eps[b][c])) total += v;
      }
    } else {
      const at::Tensor x = sample(model_fn, m.noise(idx), m.s.scheduler().schedule, m.so);
      if (m.whole())
        finals.push_back(x);
      else
        for (double v : ssim(m.s.to_output(x), m.s.to_output(m.finals[b]), m.s.output_range()))
          total += 1.0 - v;
    }
    n += int(idx.size());
  }
  if (m.o.metric == "fid") return m.quality(finals);
  if (m.o.metric == "clip") return m.teacher - m.quality(finals);
  return total / n;
}

PlanLosses make_plan_losses(const std::string& model, const std::string& prompts,
                            const std::string& embeddings, const TemporalSettings& st,
                            const std::string& metric,
                            const std::function<void(const std::string&)>& note,
                            const std::string& clip) {
  const int latent_side = st.sample_shape.size() >= 2 ? int(st.sample_shape[1]) : 0;
  const auto subject = load_scoring_subject(model, prompts, embeddings, latent_side, clip);
  if (note && subject->prompts_sha256() != st.prompts_sha256)
    note(fmt::format(
        "warning: the scoring prompts are not the temporal run's ({} prompts here, {} there)",
        subject->num_prompts(), st.prompts));
  PlanScoreOptions o;
  o.metric = metric;
  o.sampler.sampler = st.sampler;
  o.sampler.steps = st.steps;
  o.sampler.guidance = st.guidance;
  o.seed = st.seed;
  o.batch = std::max(1, st.batch);
  if (plan_metric_scores_quality(metric) && !subject->has_quality())  // PlanScorer's checks, now
    refuse_subject(metric, *subject);
  if (o.sampler.guidance != 1.0 && !subject->has_unconditional())
    fail("guidance {} needs unconditional inputs (negative embeddings), or use guidance 1",
         o.sampler.guidance);
  if (model_calls(o.sampler) != st.calls)
    fail("the scoring model's sampler makes {} calls, temporal.json's run {}",
         model_calls(o.sampler), st.calls);
  auto scorer = std::make_shared<std::shared_ptr<PlanScorer>>();  // made at the first plan
  return [subject, scorer, o, note](const std::vector<CachePlan>& plans) {
    if (!*scorer) {
      if (note)
        note(fmt::format("plan scoring ({}): teacher pass over {} prompts", o.metric,
                         subject->num_prompts()));
      *scorer = std::make_shared<PlanScorer>(*subject, o);
      if (note && plan_metric_scores_quality(o.metric))
        note(fmt::format("plan scoring ({}): the teacher's {} is {:.4g}", o.metric,
                         o.metric == "fid" ? "proxy FID" : "CLIP score",
                         (*scorer)->teacher_quality()));
    }
    std::vector<double> out;
    for (const auto& p : plans) out.push_back((*scorer)->score(p));
    return out;
  };
}

std::string plan_scoring_identity(const std::string& model, const std::string& prompts,
                                  const std::string& embeddings, const TemporalSettings& st,
                                  const std::string& metric, const std::string& clip) {
  auto file = [](const std::string& path) {
    return path.empty() ? nlohmann::json(nullptr)
                        : nlohmann::json{{"path", path}, {"sha256", sha256_file(path)}};
  };
  nlohmann::json id{{"metric", metric},
                    {"model", model},
                    {"prompts", file(prompts)},
                    {"embeddings", file(embeddings)},
                    {"sampler", st.sampler},
                    {"steps", st.steps},
                    {"guidance", st.guidance},
                    {"seed", st.seed},
                    {"sample_shape", st.sample_shape}};
  if (!clip.empty()) id["clip"] = clip;  // absent otherwise, as before it was an option
  return id.dump();
}

}  // namespace asdm
