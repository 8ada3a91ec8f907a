#include "analysis/temporal.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <set>

#include <torch/torch.h>

#include "analysis/sample_metrics.h"
#include "analysis/sampling.h"
#include "analysis/subject.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"
#include "model/branch_cache.h"
#include "model/cache_plan.h"
#include "model/prefix_replay.h"
#include "model/unet.h"

namespace asdm {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A branch [rows, ...] as one row per prompt: with guidance the unconditional rows come first, so
// prompt r's two rows (r and B + r) become one.
at::Tensor per_prompt(const at::Tensor& t, int64_t prompts) {
  if (t.size(0) == prompts) return t;
  return t.reshape({t.size(0) / prompts, prompts, -1}).transpose(0, 1).reshape({prompts, -1});
}

std::map<std::string, std::string> definitions() {
  return {
      {"change",
       "per prompt, the mean over model calls s >= 1 of |b_s - b_{s-1}| / |b_s|, b the unit's "
       "branch "
       "output (output - shortcut) along the teacher's trajectory; mean over prompts with a "
       "percentile-bootstrap 95% interval"},
      {"change_sq", "[gap-1][call]: mean over prompts of |b_s - b_{s-gap}|^2 / |b_s|^2"},
      {"reuse_nmse",
       "[call]: mean over prompts of the normalised MSE of epsilon at the teacher's state x_s with "
       "the unit reusing b_{s-1} (its shortcut on x_s plus the stale branch), against the "
       "teacher's epsilon"},
      {"reuse_cost", "per prompt the mean of reuse_nmse over calls s >= 1; bootstrap interval"},
      {"cost_per_ms", "reuse_cost / latency_ms: low values are cheap to reuse"},
      {"tier2",
       "the unit alone computed every interval-th call (DeepCache's uniform policy): 1 - SSIM and "
       "PSNR of final samples against the teacher's from the same noise, quality and its change"}};
}

class TemporalRun {
 public:
  TemporalRun(const AblationSubject& subject, const TemporalOptions& options,
              const RunContext& context, const std::filesystem::path& output, bool resume_run,
              const std::function<void(const AblationProgress&)>& on_item)
      : s(subject), o(options), out(output), resume(resume_run), progress(on_item) {
    doc.header = ArtifactHeader::make(TemporalArtifact::kArtifact, TemporalArtifact::kSchemaVersion,
                                      context);
  }

  TemporalArtifact run() {
    check();
    start();
    torch::InferenceMode guard;
    t0 = Clock::now();
    report("", "teacher");
    if (o.tier != "2") tier1();
    teacher_finals();
    if (o.tier != "1") tier2();
    doc.complete = true;
    doc.write(out);
    return doc;
  }

 private:
  const AblationSubject& s;
  const TemporalOptions& o;
  std::filesystem::path out;
  bool resume;
  std::function<void(const AblationProgress&)> progress;

  TemporalArtifact doc;
  SamplerOptions so;
  int calls = 0, n = 0;
  std::vector<std::string> units;
  std::vector<std::vector<int>> batches;
  std::vector<at::Tensor> finals;  // the teacher's, per batch (undefined until sampled)
  Clock::time_point t0;
  int done = 0, total = 0, resumed = 0;

  void check() {
    if (o.tier != "1" && o.tier != "2" && o.tier != "both")
      fail("tier must be 1, 2 or both (got '{}')", o.tier);
    if (o.batch < 1) fail("batch must be at least 1 (got {})", o.batch);
    if (o.max_gap < 1) fail("max gap must be at least 1 (got {})", o.max_gap);
    so = sampler_for(s, o.sampler);
    validate(so, s.scheduler().schedule);
    calls = model_calls(so);
    if (calls < 2) fail("temporal analysis needs at least 2 model calls (got {})", calls);
    for (int k : o.intervals)
      if (k < 2 || k > calls)
        fail("intervals must be in 2..{} (the model calls; got {})", calls, k);
    if (o.tier != "1" && o.intervals.empty()) fail("tier 2 needs at least one interval");
    if (o.sampler.guidance != 1.0 && !s.has_unconditional())
      fail("guidance {} needs unconditional inputs (negative embeddings), or use guidance 1",
           o.sampler.guidance);
    const UNet& unet = s.unet();
    const UNetLayout& layout = unet.layout();
    if (o.units.empty()) {
      for (const auto& u : layout.units)
        if (u.removable() && u.parent.empty() && !unet.removed_units().count(u.id))
          units.push_back(u.id);
    } else {
      for (const auto& id : layout.ids(true))
        if (std::find(o.units.begin(), o.units.end(), id) != o.units.end()) units.push_back(id);
      for (const auto& id : o.units) {
        const UnitInfo& u = layout.at(id);  // unknown ids: an error naming the known ones
        if (!u.removable())
          fail("unit '{}' has no shortcut and branch, so nothing to reuse; reusable units: {}", id,
               join_limited(layout.ids(true), 8));
        if (unet.removed_units().count(id)) fail("unit '{}' is removed in this model", id);
      }
    }
    if (units.empty()) fail("no units to analyse");
    if (o.profile) {
      std::vector<std::string> missing;
      for (const auto& u : units)
        if (!o.profile->units.count(u)) missing.push_back(u);
      if (!missing.empty())
        fail("{} has no times for {} (is it a profile of this model?)", o.profile->path,
             join_limited(missing, 4));
    }
    n = s.num_prompts();
    batches = prompt_batches(n, o.batch);
    finals.resize(batches.size());
  }

  TemporalSettings settings() const {
    TemporalSettings st;
    fill_run_settings(st, s, o.tier, o.sampler, o.seed, o.batch, o.bootstrap,
                      o.profile ? o.profile->path : "");
    st.calls = calls;
    st.max_gap = o.max_gap;
    st.intervals = o.tier == "1" ? std::vector<int>{} : o.intervals;
    st.units = units;
    return st;
  }

  void start() {
    doc.settings = settings();
    doc.definitions = definitions();
    if (!resume)
      refuse_unfinished(out, TemporalArtifact::kArtifact,
                        [](const auto& f) { return TemporalArtifact::read(f).complete; });
    bool resumed_file = false;
    if (resume && std::filesystem::exists(out)) {
      TemporalArtifact old = TemporalArtifact::read(out);
      TemporalSettings a = old.settings, b = doc.settings;
      a.subject = b.subject = "";  // paths differ between machines; the prompts' hash does not
      if (!(a == b))
        fail(
            "cannot resume from {}: it was made with other settings ({}); use the same flags or "
            "another output",
            out.string(), temporal_settings_differences(old.settings, doc.settings));
      doc.prompts_done = old.prompts_done;
      doc.units = old.units;
      doc.teacher = old.teacher;
      resumed_file = true;
    } else if (resume) {
      log::info("{} does not exist yet; starting a new run", out.string());
    }
    if (!resumed_file) {
      for (const auto& id : units) {
        TemporalUnit u;
        u.id = id;
        u.kind = std::string(to_string(s.unet().layout().at(id).kind));
        u.change_sq.assign(o.max_gap, std::vector<double>(calls, kNaN));
        u.reuse_nmse.assign(calls, kNaN);
        u.per_prompt_change.assign(n, kNaN);
        u.per_prompt_reuse.assign(n, kNaN);
        doc.units.push_back(u);
      }
    }
    if (o.profile) {
      doc.latency =
          TemporalArtifact::Latency{o.profile->path, o.profile->device, o.profile->forward_ms};
      for (auto& u : doc.units) u.latency_ms = o.profile->units.at(u.id).inclusive_ms;
    }
    const int tier1_items = o.tier == "2" ? 0 : int(batches.size()) * calls;
    const int tier2_items = o.tier == "1" ? 0 : int(units.size() * o.intervals.size());
    total = tier1_items + tier2_items;
    int batches_done = 0;
    for (size_t b = 0; b < batches.size(); ++b)
      if (batches[b].back() < doc.prompts_done) ++batches_done;
    int t2_done = 0;
    for (const auto& u : doc.units) t2_done += int(u.uniform.size());
    done = resumed = (o.tier == "2" ? 0 : batches_done * calls) + t2_done;
  }

  void report(const std::string& id, const std::string& tier) {
    if (!progress) return;
    AblationProgress p;
    p.done = done;
    p.total = total;
    p.resumed = resumed;
    p.id = id;
    p.tier = tier;
    p.seconds = seconds_since(t0);
    progress(p);
  }

  // ---- tier 1 ----
  void tier1() {
    const int G = o.max_gap;
    // Sums over the prompts done: the file holds means over doc.prompts_done.
    std::vector<std::vector<std::vector<double>>> change_sum(units.size());
    std::vector<std::vector<double>> reuse_sum(units.size());
    for (size_t i = 0; i < units.size(); ++i) {
      TemporalUnit& u = doc.units[i];
      change_sum[i] = u.change_sq;
      reuse_sum[i] = u.reuse_nmse;
      for (auto& g : change_sum[i])
        for (double& v : g) v = std::isnan(v) ? 0.0 : v * doc.prompts_done;
      for (double& v : reuse_sum[i]) v = std::isnan(v) ? 0.0 : v * doc.prompts_done;
    }
    CachePlan record;
    record.model = s.unet().spec();
    record.calls = calls;
    record.reuse.assign(calls, {});
    std::vector<CachePlan> probes(units.size(), record);
    for (size_t i = 0; i < units.size(); ++i)
      for (int c = 1; c < calls; ++c) probes[i].reuse[c] = {units[i]};

    for (size_t b = 0; b < batches.size(); ++b) {
      const std::vector<int>& idx = batches[b];
      if (idx.back() < doc.prompts_done) continue;
      const int64_t B = static_cast<int64_t>(idx.size());
      // Units before the probed one see the teacher's inputs: the probes replay them.
      PrefixReplay replay;
      const Denoiser model =
          denoiser(s, idx, o.sampler.guidance, o.prefix_replay ? &replay : nullptr);
      BranchCache rec(record);
      rec.also_keep({units.begin(), units.end()});
      std::vector<std::deque<at::Tensor>> history(units.size());  // newest first
      std::vector<std::vector<double>> change1(units.size(), std::vector<double>(B, 0.0)),
          reuse(units.size(), std::vector<double>(B, 0.0));
      int call = 0;
      const Denoiser wrapped = [&](const at::Tensor& x, double t) {
        at::Tensor teacher_out;
        {
          BranchCacheGuard g(&rec);
          replay.record();
          teacher_out = model(x, t);
        }
        const at::Tensor eps = epsilon(s, x, teacher_out, t);
        for (size_t i = 0; i < units.size(); ++i) {
          const at::Tensor now = per_prompt(rec.branch(units[i]), B);
          auto& hist = history[i];
          for (int g = 1; g <= G && g <= int(hist.size()); ++g) {
            const auto m = normalised_mse(hist[g - 1], now);
            for (int64_t r = 0; r < B; ++r) {
              change_sum[i][g - 1][call] += m[r];
              if (g == 1) change1[i][r] += std::sqrt(m[r]) / (calls - 1);
            }
          }
          if (call >= 1) {
            BranchCache probe(probes[i]);
            probe.seek(call - 1);
            probe.keep(units[i], previous_branch(i));
            replay.replay_before({units[i]});
            at::Tensor reused;
            {
              BranchCacheGuard g(&probe);
              reused = model(x, t);
            }
            const auto m = normalised_mse(epsilon(s, x, reused, t), eps);
            for (int64_t r = 0; r < B; ++r) {
              reuse_sum[i][call] += m[r];
              reuse[i][r] += m[r] / (calls - 1);
            }
          }
          hist.push_front(now);
          if (int(hist.size()) > G) hist.pop_back();
          raw_[i] = rec.branch(units[i]);
        }
        ++call;
        ++done;
        report(fmt::format("prompts {}-{}, call {}", idx.front(), idx.back(), call - 1), "1");
        return teacher_out;
      };
      raw_.assign(units.size(), at::Tensor());
      finals[b] = sample(wrapped, noise(idx), s.scheduler().schedule, so);
      ASDM_CHECK(call == calls, "the sampler made another number of model calls than planned");
      // The batch is done: fold it into the document and write it.
      const int done_prompts = idx.back() + 1;
      for (size_t i = 0; i < units.size(); ++i) {
        TemporalUnit& u = doc.units[i];
        for (int g = 0; g < G; ++g)
          for (int c = 0; c < calls; ++c)
            u.change_sq[g][c] = c > g ? change_sum[i][g][c] / done_prompts : kNaN;
        for (int c = 0; c < calls; ++c)
          u.reuse_nmse[c] = c >= 1 ? reuse_sum[i][c] / done_prompts : kNaN;
        for (int64_t r = 0; r < B; ++r) {
          u.per_prompt_change[idx[r]] = change1[i][r];
          u.per_prompt_reuse[idx[r]] = reuse[i][r];
        }
        const std::vector<double> pc(u.per_prompt_change.begin(),
                                     u.per_prompt_change.begin() + done_prompts),
            pr(u.per_prompt_reuse.begin(), u.per_prompt_reuse.begin() + done_prompts);
        const uint64_t seed = string_seed(u.id, o.seed);
        u.change = bootstrap_mean(pc, seed, o.bootstrap);
        u.reuse_cost = bootstrap_mean(pr, seed + 1, o.bootstrap);
      }
      doc.prompts_done = done_prompts;
      doc.write(out);
    }
  }

  // The branch of unit i kept at the previous call (the recording cache's map holds this call's).
  std::vector<at::Tensor> raw_;
  const at::Tensor& previous_branch(size_t i) const { return raw_[i]; }

  at::Tensor noise(const std::vector<int>& idx) const { return batch_noise(s, o.seed, idx); }

  // ---- the teacher's final samples (tier 2 and the fingerprint) ----
  void teacher_finals() {
    const Clock::time_point start = Clock::now();
    for (size_t b = 0; b < batches.size(); ++b)
      if (!finals[b].defined())
        finals[b] = sample(denoiser(s, batches[b], o.sampler.guidance, nullptr), noise(batches[b]),
                           s.scheduler().schedule, so);
    std::string bytes;
    for (const auto& f : finals) {
      const at::Tensor c = f.to(torch::kCPU, torch::kFloat32).contiguous();
      bytes.append(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * sizeof(float));
    }
    const std::string fingerprint = sha256_hex(bytes);
    if (!doc.teacher.fingerprint.empty() && doc.teacher.fingerprint != fingerprint)
      log::warn(
          "the teacher's samples differ from those of the run being resumed (another thread "
          "count or device?); tier 2 compares with this run's");
    doc.teacher.fingerprint = fingerprint;
    const auto ts = sampling_timesteps(s.scheduler().schedule.train_steps(), so.steps, so.spacing,
                                       so.steps_offset);
    doc.teacher.timesteps.assign(ts.begin(), ts.end());
    if (s.has_quality()) {
      std::vector<int> all;
      for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
      doc.teacher.quality = s.quality(torch::cat(finals), all, o.seed);
    }
    doc.teacher.seconds = seconds_since(start);
    doc.write(out);
  }

  // ---- tier 2 ----
  void tier2() {
    const ArchSpec& spec = s.unet().spec();
    for (size_t i = 0; i < units.size(); ++i) {
      TemporalUnit& u = doc.units[i];
      for (int k : o.intervals) {
        if (std::any_of(u.uniform.begin(), u.uniform.end(),
                        [k](const TemporalUniform& r) { return r.interval == k; }))
          continue;
        const Clock::time_point start = Clock::now();
        const CachePlan plan = CachePlan::uniform(spec, {u.id}, k, calls);
        std::vector<double> loss(n), psnr_v(n);
        std::vector<at::Tensor> samples;
        std::vector<int> all;
        for (size_t b = 0; b < batches.size(); ++b) {
          BranchCache cache(plan);
          BranchCacheGuard g(&cache);
          const at::Tensor x = sample(denoiser(s, batches[b], o.sampler.guidance, nullptr),
                                      noise(batches[b]), s.scheduler().schedule, so);
          const at::Tensor got = s.to_output(x), ref = s.to_output(finals[b]);
          const auto sv = ssim(got, ref, s.output_range()), pv = psnr(got, ref, s.output_range());
          for (size_t r = 0; r < sv.size(); ++r) {
            loss[batches[b][r]] = 1.0 - sv[r];
            psnr_v[batches[b][r]] = pv[r];
          }
          samples.push_back(x);
          all.insert(all.end(), batches[b].begin(), batches[b].end());
        }
        TemporalUniform r;
        r.interval = k;
        r.reusing_calls = plan.reusing_calls();
        const uint64_t seed = string_seed(u.id, o.seed) + 2 + k;
        r.ssim_loss = bootstrap_mean(loss, seed, o.bootstrap);
        r.psnr_db = bootstrap_mean(psnr_v, seed + 1, o.bootstrap);
        if (s.has_quality()) {
          r.quality = s.quality(torch::cat(samples), all, o.seed);
          r.quality_delta.emplace();
          for (const auto& [key, v] : *r.quality)
            if (doc.teacher.quality && doc.teacher.quality->count(key))
              (*r.quality_delta)[key] = v - doc.teacher.quality->at(key);
        }
        r.seconds = seconds_since(start);
        u.uniform.push_back(r);
        std::sort(u.uniform.begin(), u.uniform.end(),
                  [](const auto& a, const auto& b) { return a.interval < b.interval; });
        ++done;
        doc.write(out);
        report(fmt::format("{} k{}", u.id, k), "2");
      }
    }
  }
};

}  // namespace

TemporalOptions temporal_options(const AblationOptions& a, int max_gap,
                                 const std::vector<int>& intervals) {
  if (a.shard_count > 1 || !a.groups.empty() || a.groups_only || a.top > 0 ||
      !a.rank_from_path.empty())
    fail(
        "--temporal scores units one by one on one process: no --shard, --group(s), --top or "
        "--rank-from");
  if (a.cache_plan) fail("--cache-plan goes with removal scores, not --temporal");
  TemporalOptions t;
  t.tier = a.tier;
  t.sampler = a.sampler;
  t.seed = a.seed;
  t.batch = a.batch;
  t.bootstrap = a.bootstrap;
  t.max_gap = max_gap;
  t.intervals = intervals;
  t.units = a.units;
  t.profile = a.profile;
  t.prefix_replay = a.prefix_chunk > 1;
  return t;
}

TemporalArtifact run_temporal(const AblationSubject& subject, const TemporalOptions& options,
                              const RunContext& context, const std::filesystem::path& out,
                              bool resume,
                              const std::function<void(const AblationProgress&)>& progress) {
  return TemporalRun(subject, options, context, out, resume, progress).run();
}

}  // namespace asdm
