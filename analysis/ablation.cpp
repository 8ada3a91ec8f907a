#include "analysis/ablation.h"

#include "analysis/importance.h"
#include "analysis/importance_io.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include "analysis/sample_metrics.h"
#include "analysis/sampling.h"
#include "analysis/statistics.h"
#include "analysis/subject_impl.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/unit_id.h"
#include "model/branch_cache.h"
#include "model/cache_plan.h"
#include "model/prefix_replay.h"
#include "model/unet.h"

namespace asdm {

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- the plan -------------------------------------------------------------------------------

struct Entry {
  std::string id;
  std::vector<std::string> units;
  std::string kind;  // unit kind, or "group"
};

std::string group_id(const std::vector<std::string>& units) {
  std::string s;
  for (const auto& u : units) s += (s.empty() ? "" : "+") + u;
  return s;
}

const UnitInfo& removable_unit(const UNetLayout& layout, const std::string& id) {
  const UnitInfo& u = layout.at(id);  // unknown ids: "unit 'x' not found; known: ..."
  if (!u.removable())
    fail("unit '{}' ({}) cannot be bypassed; removable units: {}", id, to_string(u.kind),
         join_limited(layout.ids(true), 8));
  return u;
}

std::vector<Entry> make_plan(const UNet& unet, const AblationOptions& o) {
  const UNetLayout& layout = unet.layout();
  std::vector<Entry> plan;
  std::set<std::string> seen;
  if (!o.groups_only) {
    std::vector<std::string> ids = o.units.empty() ? layout.ids(true) : o.units;
    if (!o.units.empty()) {
      // Forward order, whatever order they were given in.
      std::vector<std::string> ordered;
      for (const auto& id : ids) removable_unit(layout, id);
      for (const auto& id : layout.ids(true))
        if (std::find(ids.begin(), ids.end(), id) != ids.end()) ordered.push_back(id);
      ids = ordered;
    }
    for (const auto& id : ids) {
      const UnitInfo& u = removable_unit(layout, id);
      if (unet.removed_units().count(id)) {
        if (!o.units.empty()) fail("unit '{}' is already removed in this model", id);
        continue;
      }
      plan.push_back({id, {id}, std::string(to_string(u.kind))});
      seen.insert(id);
    }
  }
  for (const auto& g : o.groups) {
    if (g.empty()) fail("an empty group of units");
    std::vector<std::string> units;
    for (const auto& id : layout.ids(true))
      if (std::find(g.begin(), g.end(), id) != g.end()) units.push_back(id);
    for (const auto& id : g) removable_unit(layout, id);
    const Entry e{group_id(units), units,
                  units.size() == 1 ? std::string(to_string(layout.at(units[0]).kind)) : "group"};
    if (seen.insert(e.id).second) plan.push_back(e);
  }
  if (plan.empty()) fail("nothing to ablate: no units and no groups");
  return plan;
}

// The units of an entry whose time is saved: those not nested in another unit of the entry.
double saved_ms(const UNetLayout& layout, const Entry& e, const ProfileLatency& p) {
  double ms = 0;
  for (const auto& id : e.units) {
    const std::string& parent = layout.at(id).parent;
    if (!parent.empty() && std::find(e.units.begin(), e.units.end(), parent) != e.units.end())
      continue;
    ms += p.units.at(id).inclusive_ms;
  }
  return ms;
}

// ---- the teacher pass -------------------------------------------------------------------------

struct TeacherPass {
  std::vector<int> steps;                            // sampler step index of each kept state
  std::vector<double> timesteps;                     // its timestep
  std::vector<std::vector<int>> batches;             // prompt indices
  std::vector<at::Tensor> noise;                     // per batch
  std::vector<std::vector<at::Tensor>> states, eps;  // [k][batch]: model input, teacher epsilon
  std::vector<at::Tensor> finals;                    // per batch
  std::map<std::string, double> quality;
  std::string fingerprint;
  double seconds = 0;
};

// The steps whose inputs tier 1 keeps: K steps spread evenly over the trajectory (bin centres).
std::vector<int> kept_steps(int steps, int k) {
  std::vector<int> out;
  for (int i = 0; i < k; ++i) {
    const int s = static_cast<int>(std::floor((i + 0.5) * steps / k));
    if (out.empty() || out.back() != s) out.push_back(s);
  }
  return out;
}

TeacherPass teacher_pass(const AblationSubject& s, const AblationOptions& o, bool want_quality) {
  const auto t0 = std::chrono::steady_clock::now();
  TeacherPass tp;
  const SamplerOptions so = sampler_for(s, o.sampler);
  const auto ts = sampling_timesteps(s.scheduler().schedule.train_steps(), so.steps, so.spacing,
                                     so.steps_offset);
  tp.steps = kept_steps(so.steps, o.timesteps);
  for (int i : tp.steps) tp.timesteps.push_back(ts[i]);
  tp.states.resize(tp.steps.size());
  tp.eps.resize(tp.steps.size());
  for (const std::vector<int>& idx : prompt_batches(s.num_prompts(), o.batch)) {
    tp.batches.push_back(idx);
    tp.noise.push_back(batch_noise(s, o.seed, idx));
    const Denoiser model = denoiser(s, idx, o.sampler.guidance, nullptr);
    int step = 0;
    std::unique_ptr<BranchCache> cache;
    if (o.cache_plan) cache = std::make_unique<BranchCache>(*o.cache_plan);
    const Denoiser keep = [&](const at::Tensor& x, double t) {
      const at::Tensor out = model(x, t);
      const auto it = std::find(tp.steps.begin(), tp.steps.end(), step);
      if (it != tp.steps.end()) {
        const size_t k = it - tp.steps.begin();
        tp.states[k].push_back(x.clone());
        if (cache) {  // tier 1 compares plain forwards: the teacher's is one too
          BranchCacheGuard plain(nullptr);
          tp.eps[k].push_back(epsilon(s, x, model(x, t), t));
        } else {
          tp.eps[k].push_back(epsilon(s, x, out, t));
        }
      }
      ++step;
      return out;
    };
    BranchCacheGuard guard(cache.get());
    tp.finals.push_back(sample(keep, tp.noise.back(), s.scheduler().schedule, so));
  }
  std::string bytes;
  auto add = [&](const at::Tensor& t) {
    const at::Tensor c = t.to(torch::kCPU, torch::kFloat32).contiguous();
    bytes.append(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * sizeof(float));
  };
  for (const auto& per_k : tp.eps)
    for (const auto& e : per_k) add(e);
  for (const auto& f : tp.finals) add(f);
  tp.fingerprint = sha256_hex(bytes);
  if (want_quality && s.has_quality()) {
    std::vector<int> all;
    for (const auto& b : tp.batches) all.insert(all.end(), b.begin(), b.end());
    tp.quality = s.quality(torch::cat(tp.finals), all, o.seed);
  }
  tp.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return tp;
}

// ---- scoring ----------------------------------------------------------------------------------

// Tier 1 of these entries, state by state. With `replay`, the teacher's forward at each state is
// recorded first and each entry's forward replays the units before its first bypassed one: the
// same numbers, computed from there on (worth it for two entries or more).
std::vector<Tier1Result> tier1(const AblationSubject& s, const AblationOptions& o,
                               const TeacherPass& tp, const std::vector<const Entry*>& es,
                               bool replay_prefix) {
  const int n = s.num_prompts(), K = static_cast<int>(tp.steps.size());
  const size_t E = es.size();
  std::vector<std::vector<double>> nmse(E, std::vector<double>(n, 0.0)), cosine = nmse;
  std::vector<std::vector<TimestepScore>> per_t(E);
  PrefixReplay replay;
  for (int k = 0; k < K; ++k) {
    std::vector<double> sn(E, 0.0), sc(E, 0.0);
    for (size_t b = 0; b < tp.batches.size(); ++b) {
      const at::Tensor& x = tp.states[k][b];
      if (replay_prefix) {
        replay.record();
        denoiser(s, tp.batches[b], o.sampler.guidance, &replay)(x, tp.timesteps[k]);
      }
      for (size_t e = 0; e < E; ++e) {
        Bypass bypass(es[e]->units);
        ObserverChain chain;
        if (replay_prefix) {
          chain.add(&replay);
          replay.replay_before(es[e]->units);
        }
        chain.add(&bypass);
        const at::Tensor eps = epsilon(
            s, x, denoiser(s, tp.batches[b], o.sampler.guidance, &chain)(x, tp.timesteps[k]),
            tp.timesteps[k]);
        const auto m = normalised_mse(eps, tp.eps[k][b]),
                   c = cosine_similarities(eps, tp.eps[k][b]);
        for (size_t r = 0; r < m.size(); ++r) {
          const int i = tp.batches[b][r];
          nmse[e][i] += m[r] / K;
          cosine[e][i] += c[r] / K;
          sn[e] += m[r];
          sc[e] += c[r];
        }
      }
    }
    for (size_t e = 0; e < E; ++e)
      per_t[e].push_back({tp.steps[k], tp.timesteps[k], sn[e] / n, sc[e] / n});
  }
  std::vector<Tier1Result> out;
  for (size_t e = 0; e < E; ++e) {
    const uint64_t seed = string_seed(es[e]->id, o.seed);
    out.push_back({bootstrap_mean(nmse[e], seed, o.bootstrap),
                   bootstrap_mean(cosine[e], seed + 1, o.bootstrap), per_t[e], nmse[e], cosine[e]});
  }
  return out;
}

Tier2Result tier2(const AblationSubject& s, const AblationOptions& o, const TeacherPass& tp,
                  const Entry& e) {
  Bypass bypass(e.units);
  const SamplerOptions so = sampler_for(s, o.sampler);
  const int n = s.num_prompts();
  std::vector<double> ssim_v(n), loss(n), psnr_v(n), nmse_v(n);
  std::vector<at::Tensor> finals;
  std::vector<int> all;
  for (size_t b = 0; b < tp.batches.size(); ++b) {
    std::unique_ptr<BranchCache> cache;
    if (o.cache_plan) cache = std::make_unique<BranchCache>(*o.cache_plan);
    BranchCacheGuard guard(cache.get());
    const at::Tensor x = sample(denoiser(s, tp.batches[b], o.sampler.guidance, &bypass),
                                tp.noise[b], s.scheduler().schedule, so);
    const at::Tensor out = s.to_output(x), ref = s.to_output(tp.finals[b]);
    const auto sv = ssim(out, ref, s.output_range()), pv = psnr(out, ref, s.output_range());
    const auto mv = normalised_mse(out, ref);
    for (size_t r = 0; r < sv.size(); ++r) {
      const int i = tp.batches[b][r];
      ssim_v[i] = sv[r];
      loss[i] = 1.0 - sv[r];
      psnr_v[i] = pv[r];
      nmse_v[i] = mv[r];
    }
    finals.push_back(x);
    all.insert(all.end(), tp.batches[b].begin(), tp.batches[b].end());
  }
  const uint64_t seed = string_seed(e.id, o.seed) + 2;
  Tier2Result t;
  t.ssim_loss = bootstrap_mean(loss, seed, o.bootstrap);
  t.ssim = bootstrap_mean(ssim_v, seed + 1, o.bootstrap);
  t.psnr_db = bootstrap_mean(psnr_v, seed + 2, o.bootstrap);
  t.nmse = bootstrap_mean(nmse_v, seed + 3, o.bootstrap);
  t.per_prompt_ssim = ssim_v;
  t.per_prompt_psnr_db = psnr_v;
  if (s.has_quality()) {
    const auto q = s.quality(torch::cat(finals), all, o.seed);
    t.quality = q;
    t.quality_delta.emplace();
    for (const auto& [k, v] : q)
      if (tp.quality.count(k)) (*t.quality_delta)[k] = v - tp.quality.at(k);
  }
  return t;
}

// ---- the document -----------------------------------------------------------------------------

bool wants(const std::string& tier, int t) { return tier == "both" || tier == std::to_string(t); }

ImportanceSettings settings_of(const AblationSubject& s, const AblationOptions& o,
                               const std::vector<Entry>& plan) {
  ImportanceSettings st;
  fill_run_settings(st, s, o.tier, o.sampler, o.seed, o.batch, o.bootstrap,
                    o.profile ? o.profile->path : "");
  st.timesteps = o.timesteps;
  st.top = o.top;
  st.rank_from = o.rank_from_path;
  st.cache_plan = o.cache_plan_path;
  for (const auto& e : plan) st.plan.push_back(e.id);
  return st;
}

// What the file says about the meaning of its numbers.
std::map<std::string, std::string> definitions() {
  return {{"tier1",
           "normalised MSE of the bypassed model's epsilon against the teacher's (sum of squared "
           "differences / sum of "
           "squares of the teacher's), at the teacher's own sampler states, averaged over the kept "
           "timesteps; then "
           "mean over prompts with a percentile-bootstrap 95% interval"},
          {"tier2",
           "1 - SSIM of the bypassed model's final sample against the teacher's from the same "
           "noise (scikit-image's "
           "default SSIM), mean over prompts with a bootstrap 95% interval; PSNR capped at 100 dB"},
          {"latency_saved_ms",
           "the units' median inclusive time in the profile (a ResBlock's 1x1 shortcut stays)"},
          {"tier1_per_ms", "tier-1 score / latency saved: low values are cheap to remove"}};
}

// Ranks, rank correlations, group interactions: recomputed from the results on every write.
using Score = double (*)(const ImportanceResult&);
double tier1_score(const ImportanceResult& r) { return r.tier1 ? r.tier1->nmse.mean : kNaN; }
double tier2_score(const ImportanceResult& r) { return r.tier2 ? r.tier2->ssim_loss.mean : kNaN; }
double per_ms_score(const ImportanceResult& r) { return r.tier1_per_ms.value_or(kNaN); }
double accuracy_drop(const ImportanceResult& r) {
  if (!r.tier2 || !r.tier2->quality_delta) return kNaN;
  const auto it = r.tier2->quality_delta->find("mean_accuracy");
  return it == r.tier2->quality_delta->end() ? kNaN : it->second;
}

void derive(ImportanceArtifact& doc) {
  auto& results = doc.results;
  std::map<std::string, const ImportanceResult*> by_id;
  for (const auto& r : results) by_id[r.id] = &r;
  // Rankings among single units.
  auto ranking = [&](Score score, bool ascending_per_ms = false) {
    std::vector<std::pair<double, std::string>> v;
    for (const auto& r : results)
      if (r.kind != "group" && !std::isnan(score(r))) v.push_back({score(r), r.id});
    std::stable_sort(v.begin(), v.end(), [&](const auto& a, const auto& b) {
      return ascending_per_ms ? a.first < b.first : a.first > b.first;
    });
    std::vector<std::string> ids;
    for (const auto& [value, id] : v) ids.push_back(id);
    return ids;
  };
  doc.ranking = {{"tier1", ranking(tier1_score)},
                 {"tier2", ranking(tier2_score)},
                 {"tier1_per_ms", ranking(per_ms_score, true)}};
  // Rank correlation between the tiers over single units scored by both.
  auto corr = [&](Score a, Score b, bool negate_b) {
    std::vector<double> x, y;
    for (const auto& r : results) {
      if (r.kind == "group") continue;
      const double va = a(r), vb = b(r);
      if (std::isnan(va) || std::isnan(vb)) continue;
      x.push_back(va);
      y.push_back(negate_b ? -vb : vb);
    }
    return ImportanceArtifact::Correlation{spearman(x, y), static_cast<int>(x.size())};
  };
  doc.rank_correlation = {{"tier1_vs_tier2", corr(tier1_score, tier2_score, false)},
                          {"tier1_vs_accuracy_drop", corr(tier1_score, accuracy_drop, true)},
                          {"tier2_vs_accuracy_drop", corr(tier2_score, accuracy_drop, true)}};
  // Interactions: a group's score minus the sum of its units' scores, where all were scored.
  for (auto& r : results) {
    if (r.kind != "group") continue;
    for (const auto& [name, score] :
         {std::pair{"tier1_nmse", &tier1_score}, std::pair{"tier2_ssim_loss", &tier2_score}}) {
      const double g = score(r);
      if (std::isnan(g)) continue;
      double sum = 0;
      bool all = true;
      for (const auto& u : r.units) {
        const auto it = by_id.find(u);
        const double v = it == by_id.end() ? kNaN : score(*it->second);
        all = all && !std::isnan(v);
        sum += std::isnan(v) ? 0 : v;
      }
      if (all) r.interaction[name] = {g, sum, g - sum};
    }
  }
}

struct WorkItem {
  size_t entry;
  int tier;
};

std::string shard_text(int i, int n) { return fmt::format("{}/{}", i, n); }

// Settings that must match for results to be joined. The subject's description holds paths, which
// differ between machines and working folders: the prompts' hash, the sample shape and the plan
// identify the work, so a different description is only worth a warning.
bool same_settings(const ImportanceSettings& a, const ImportanceSettings& b,
                   const std::string& what) {
  ImportanceSettings x = a, y = b;
  x.subject = y.subject = "";
  if (!(x == y)) return false;
  if (a.subject != b.subject)
    log::warn("{}: the model and prompts were given as '{}' there and '{}' here", what, a.subject,
              b.subject);
  return true;
}

ImportanceArtifact read_partial(const std::filesystem::path& out) {
  auto corrupt = [&](const Error& e) {
    fail("cannot resume from {}: {}; the file was left as it is (move it away to start over)",
         out.string(), e.what());
  };
  std::string type;
  try {
    type = read_artifact_type(out);
  } catch (const Error& e) {
    corrupt(e);
  }
  if (type != ImportanceArtifact::kArtifact)
    fail(
        "cannot resume from {}: it is not an importance.json of asdm ablate; the file was left as "
        "it is",
        out.string());
  try {
    return ImportanceArtifact::read(out);
  } catch (const Error& e) {
    corrupt(e);
  }
  return {};  // not reached: corrupt() throws
}

}  // namespace

// ---- public -----------------------------------------------------------------------------------

struct GroupScorer::Impl {
  const AblationSubject& subject;
  AblationOptions options;
  TeacherPass pass;
  // The teacher's recorded forward at every kept state, for the subject's own scores (made at the
  // first; none with prefix_chunk 1 or when they would hold more than kReplayBytes).
  std::vector<std::vector<std::unique_ptr<PrefixReplay>>> replays;
  bool replays_tried = false;
  static constexpr int64_t kReplayBytes = int64_t(2) << 30;

  void record() {
    replays_tried = true;
    if (options.prefix_chunk <= 1) return;
    int64_t bytes = 0;
    replays.resize(pass.steps.size());
    for (size_t k = 0; k < pass.steps.size(); ++k)
      for (size_t b = 0; b < pass.batches.size(); ++b) {
        auto r = std::make_unique<PrefixReplay>();
        r->record();
        denoiser(subject, pass.batches[b], options.sampler.guidance, r.get())(pass.states[k][b],
                                                                              pass.timesteps[k]);
        bytes += r->bytes();
        if (bytes > kReplayBytes) {
          log::debug("group scores without replay: the recorded forwards would exceed {} MiB",
                     kReplayBytes >> 20);
          replays.clear();
          return;
        }
        replays[k].push_back(std::move(r));
      }
  }
};

GroupScorer::GroupScorer(const AblationSubject& s, const AblationOptions& o)
    : impl_(new Impl{s, o, {}, {}}) {
  torch::InferenceMode guard;
  validate(sampler_for(s, o.sampler), s.scheduler().schedule);
  impl_->pass = teacher_pass(s, impl_->options, false);
}

GroupScorer::~GroupScorer() = default;

double GroupScorer::teacher_seconds() const { return impl_->pass.seconds; }

double GroupScorer::score(const std::vector<std::string>& units) const {
  return score(impl_->subject, units);
}

double GroupScorer::score(const AblationSubject& s, const std::vector<std::string>& units) const {
  torch::InferenceMode guard;
  const auto& tp = impl_->pass;
  ASDM_CHECK(s.num_prompts() == impl_->subject.num_prompts(), "a model scored on other prompts");
  for (const auto& id : units) removable_unit(s.unet().layout(), id);
  Bypass bypass(units);
  // The teacher's own units before the first bypassed one are replayed (another model, e.g. one
  // with GRI edits, differs before it: computed whole).
  const bool own = &s == &impl_->subject && !units.empty();
  if (own && !impl_->replays_tried) impl_->record();
  const bool replay = own && !impl_->replays.empty();
  double total = 0;
  int n = 0;
  for (size_t k = 0; k < tp.steps.size(); ++k)
    for (size_t b = 0; b < tp.batches.size(); ++b) {
      const at::Tensor& x = tp.states[k][b];
      ObserverChain chain;
      if (replay) {
        impl_->replays[k][b]->replay_before(units);
        chain.add(impl_->replays[k][b].get());
      }
      chain.add(&bypass);
      const at::Tensor eps = epsilon(
          s, x,
          denoiser(s, tp.batches[b], impl_->options.sampler.guidance, &chain)(x, tp.timesteps[k]),
          tp.timesteps[k]);
      for (double m : normalised_mse(eps, tp.eps[k][b])) {
        total += m;
        ++n;
      }
    }
  return total / n;
}

std::pair<int, int> parse_shard(const std::string& text) {
  int i = -1, n = 0;
  char rest = 0;
  if (std::sscanf(text.c_str(), "%d/%d%c", &i, &n, &rest) != 2 || n < 1 || i < 0 || i >= n)
    fail("--shard takes i/n with 0 <= i < n (got '{}')", text);
  return {i, n};
}

std::vector<std::string> parse_group(const std::string& text) {
  std::string line = text;
  std::replace_if(
      line.begin(), line.end(), [](char c) { return c == ',' || c == '+'; }, ' ');
  std::istringstream ss(line);
  std::vector<std::string> ids;
  for (std::string id; ss >> id;) ids.push_back(id);
  return ids;
}

void read_ablation_inputs(const AblationInputs& in, AblationOptions& o) {
  if (!in.shard.empty()) std::tie(o.shard_index, o.shard_count) = parse_shard(in.shard);
  o.units = in.units;
  for (const auto& g : in.group) o.groups.push_back(parse_group(g));
  if (!in.groups_file.empty())
    for (auto& g : read_groups(in.groups_file)) o.groups.push_back(g);
  if (o.groups_only && o.groups.empty()) fail("--groups-only needs --group or --groups");
  if (!in.rank_from.empty()) {
    o.rank_from = read_importance_scores(in.rank_from, "tier1").units;
    o.rank_from_path = in.rank_from;
  }
  if (!in.profile.empty()) o.profile = read_profile_latency(in.profile);
  if (!in.cache_plan.empty()) {
    o.cache_plan = CachePlan::read(in.cache_plan);
    o.cache_plan_path = in.cache_plan;
  }
}

std::vector<std::vector<std::string>> read_groups(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail("cannot read groups file {}", path.string());
  std::vector<std::vector<std::string>> groups;
  std::string line;
  while (std::getline(in, line)) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    if (auto g = parse_group(line); !g.empty()) groups.push_back(g);
  }
  if (groups.empty()) fail("groups file {} has no groups", path.string());
  return groups;
}

namespace {

// One ablation run, phase by phase: check the options, plan the entries (this shard's), take the
// results of the file being resumed, plan the work items, the teacher pass, then every item,
// writing the file after each.
class AblationRun {
 public:
  AblationRun(const AblationSubject& subject, const AblationOptions& options,
              const RunContext& context, const std::filesystem::path& output, bool resume_run,
              const std::function<void(const AblationProgress&)>& on_item)
      : s(subject), o(options), ctx(context), out(output), resume(resume_run), progress(on_item) {}

  ImportanceArtifact run() {
    check();
    make_entries();
    take_resumed();
    torch::InferenceMode guard;
    plan_work();
    start_document();
    teacher();
    score();
    write(true);
    return doc;
  }

 private:
  // ---- check: options first, before any work ----
  void check() const {
    if (o.tier != "1" && o.tier != "2" && o.tier != "both")
      fail("tier must be 1, 2 or both (got '{}')", o.tier);
    if (o.timesteps < 1 || o.timesteps > o.sampler.steps)
      fail("timesteps must be in 1..{} (the sampler steps; got {})", o.sampler.steps, o.timesteps);
    if (o.batch < 1) fail("batch must be at least 1 (got {})", o.batch);
    if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
      fail("shard {} is not valid: i/n with 0 <= i < n", shard_text(o.shard_index, o.shard_count));
    if (o.top < 0) fail("top must be >= 0 (got {})", o.top);
    if (o.top > 0 && o.tier == "1") fail("top selects units for tier 2; it needs tier 2 or both");
    if (o.top > 0 && o.tier == "2" && o.rank_from.empty())
      fail("top with tier 2 alone needs tier-1 scores from another run (rank-from)");
    if (o.top > 0 && o.shard_count > 1 && o.rank_from.empty())
      fail(
          "top with shards needs the merged tier-1 scores of all units (rank-from): a shard sees "
          "only its own units");
    validate(sampler_for(s, o.sampler), s.scheduler().schedule);
    if (o.cache_plan) o.cache_plan->check(s.unet().spec(), model_calls(sampler_for(s, o.sampler)));
    if (o.sampler.guidance != 1.0 && !s.has_unconditional())
      fail(
          "guidance {} needs unconditional inputs, and the embeddings have no "
          "negative_encoder_hidden_states (add "
          "them, or use guidance 1)",
          o.sampler.guidance);
  }

  // ---- plan: the entries, their profile times, this shard's share ----
  void make_entries() {
    plan = make_plan(s.unet(), o);
    if (o.profile) {
      std::vector<std::string> missing;
      for (const auto& e : plan)
        for (const auto& u : e.units)
          if (!o.profile->units.count(u)) missing.push_back(u);
      if (!missing.empty())
        fail("{} has no times for {} (is it a profile of this model?)", o.profile->path,
             join_limited(missing, 4));
    }
    for (size_t i = 0; i < plan.size(); ++i)
      if (int(i % o.shard_count) == o.shard_index) mine.push_back(i);
  }

  // ---- resume: the results of the file being continued (same settings and shard) ----
  void take_resumed() {
    settings = settings_of(s, o, plan);
    if (!resume)
      refuse_unfinished(out, ImportanceArtifact::kArtifact,
                        [](const auto& f) { return ImportanceArtifact::read(f).complete; });
    if (resume && std::filesystem::exists(out)) {
      const ImportanceArtifact old = read_partial(out);
      if (!same_settings(old.settings, settings, out.string()))
        fail(
            "cannot resume from {}: it was made with other settings ({}); use the same flags or "
            "another output",
            out.string(), settings_differences(old.settings, settings));
      if (old.shard_index != o.shard_index || old.shard_count != o.shard_count)
        fail("cannot resume from {}: it is shard {}, not {}", out.string(),
             shard_text(old.shard_index, old.shard_count),
             shard_text(o.shard_index, o.shard_count));
      for (const auto& r : old.results) done[r.id] = r;
      old_fingerprint = old.teacher.fingerprint;
    } else if (resume) {
      log::info("{} does not exist yet; starting a new run", out.string());
    }
  }

  // ---- work: (entry, tier) items, every tier 1 before any tier 2 (tier 1 is cheap, gives the
  // whole ranking early, and runs in replayed chunks); with `top` and no rank-from, tier 2 is
  // chosen from the tier-1 scores ----
  void plan_work() {
    t0 = std::chrono::steady_clock::now();
    top_now = o.top > 0 && o.rank_from.empty();
    int singles = 0, groups = 0;
    for (size_t i : mine) {
      (plan[i].kind == "group" ? groups : singles) += 1;
      if (wants(o.tier, 1)) first.push_back({i, 1});
    }
    if (wants(o.tier, 2) && o.top == 0)
      for (size_t i : mine) first.push_back({i, 2});
    if (o.top > 0 && !top_now)
      for (size_t i : top_units(o.rank_from, o.rank_from_path)) first.push_back({i, 2});
    total = static_cast<int>(first.size()) + (top_now ? std::min(o.top, singles) + groups : 0);
    resumed = 0;
    for (size_t i : mine)
      for (int t : {1, 2})
        if (wants(o.tier, t) && has(i, t)) ++resumed;
  }

  void start_document() {
    doc.header = ArtifactHeader::make(ImportanceArtifact::kArtifact,
                                      ImportanceArtifact::kSchemaVersion, ctx);
    doc.settings = settings;
    doc.shard_index = o.shard_index;
    doc.shard_count = o.shard_count;
    doc.definitions = definitions();
    if (o.profile)
      doc.latency = ImportanceArtifact::Latency{o.profile->path, o.profile->backend,
                                                o.profile->device, o.profile->forward_ms};
  }

  // ---- the teacher pass: run every time (one sampling run per prompt), so that a resumed run can
  // check that it sees the same teacher outputs ----
  void teacher() {
    if (progress) progress({resumed, total, resumed, "", "teacher", elapsed()});
    tp = teacher_pass(s, o, wants(o.tier, 2));
    if (!old_fingerprint.empty() && old_fingerprint != tp.fingerprint)
      log::warn(
          "the teacher's outputs differ from those of the run being resumed (another thread count, "
          "device or "
          "build?); {} mixes results of both",
          out.string());
    doc.teacher = {tp.fingerprint, tp.steps, tp.timesteps, tp.seconds, std::nullopt};
    if (!tp.quality.empty()) doc.teacher.quality = tp.quality;
  }

  // ---- score every item ----
  void score() {
    finished = resumed;
    run_items(first);
    if (top_now) {
      std::map<std::string, double> scores;
      for (size_t i : mine)
        if (plan[i].kind != "group") scores[plan[i].id] = done.at(plan[i].id).tier1->nmse.mean;
      for (size_t i : top_units(scores, "this run")) second.push_back({i, 2});
      run_items(second);
    }
  }

  // Items in order; runs of pending tier-1 items are scored `prefix_chunk` at a time with replay,
  // each result written (and reported) as if it had been scored alone.
  void run_items(const std::vector<WorkItem>& items) {
    for (size_t i = 0; i < items.size();) {
      std::vector<WorkItem> chunk;
      while (i < items.size() && items[i].tier == 1 && o.prefix_chunk > 1 &&
             int(chunk.size()) < o.prefix_chunk) {
        if (!has(items[i].entry, 1)) chunk.push_back(items[i]);
        ++i;
      }
      if (chunk.empty()) {
        if (i < items.size()) run_item(items[i++]);
        continue;
      }
      if (chunk.size() == 1) {  // a recorded forward would cost more than it saves
        run_item(chunk[0]);
        continue;
      }
      const auto start = std::chrono::steady_clock::now();
      std::vector<const Entry*> entries;
      for (const auto& w : chunk) entries.push_back(&plan[w.entry]);
      std::vector<Tier1Result> results = tier1(s, o, tp, entries, true);
      const double each =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() /
          chunk.size();
      for (size_t c = 0; c < chunk.size(); ++c) record(chunk[c], std::move(results[c]), each);
    }
  }

  ImportanceResult& result_of(const Entry& e) {
    ImportanceResult& r = done[e.id];
    if (r.id.empty()) {
      r.id = e.id;
      r.units = e.units;
      r.kind = e.kind;
      if (o.profile) r.latency_saved_ms = saved_ms(s.unet().layout(), e, *o.profile);
    }
    return r;
  }

  void record(const WorkItem& w, Tier1Result t1, double seconds) {
    const Entry& e = plan[w.entry];
    ImportanceResult& r = result_of(e);
    r.tier1 = std::move(t1);
    if (r.latency_saved_ms) r.tier1_per_ms = r.tier1->nmse.mean / *r.latency_saved_ms;
    r.seconds["tier1"] = seconds;
    ++finished;
    write(false);
    if (progress) progress({finished, total, resumed, e.id, "tier1", elapsed()});
  }

  void run_item(const WorkItem& w) {
    const Entry& e = plan[w.entry];
    if (has(w.entry, w.tier)) return;
    const auto start = std::chrono::steady_clock::now();
    ImportanceResult& r = result_of(e);
    const char* key = w.tier == 1 ? "tier1" : "tier2";
    if (w.tier == 1) {
      r.tier1 = tier1(s, o, tp, {&e}, false)[0];
      if (r.latency_saved_ms) r.tier1_per_ms = r.tier1->nmse.mean / *r.latency_saved_ms;
    } else {
      r.tier2 = tier2(s, o, tp, e);
    }
    r.seconds[key] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++finished;
    write(false);
    if (progress) progress({finished, total, resumed, e.id, key, elapsed()});
  }

  // Tier 2 on the `top` single units by tier-1 score (and on every group).
  std::vector<size_t> top_units(const std::map<std::string, double>& scores,
                                const std::string& source) const {
    std::vector<std::pair<double, size_t>> v;
    for (size_t i : mine) {
      if (plan[i].kind == "group") continue;
      const auto it = scores.find(plan[i].id);
      if (it == scores.end()) fail("{} has no tier-1 score for '{}'", source, plan[i].id);
      v.push_back({it->second, i});
    }
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<size_t> chosen;
    for (size_t k = 0; k < v.size() && int(k) < o.top; ++k) chosen.push_back(v[k].second);
    for (size_t i : mine)
      if (plan[i].kind == "group") chosen.push_back(i);
    std::sort(chosen.begin(), chosen.end());
    return chosen;
  }

  void write(bool complete) {
    doc.results.clear();
    for (const auto& e : plan)
      if (done.count(e.id)) doc.results.push_back(done.at(e.id));
    doc.complete = complete;
    derive(doc);
    doc.write(out);
  }

  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  bool has(size_t i, int tier) const {
    const auto it = done.find(plan[i].id);
    return it != done.end() &&
           (tier == 1 ? it->second.tier1.has_value() : it->second.tier2.has_value());
  }

  const AblationSubject& s;
  const AblationOptions& o;
  const RunContext& ctx;
  const std::filesystem::path out;
  const bool resume;
  const std::function<void(const AblationProgress&)>& progress;
  std::vector<Entry> plan;
  std::vector<size_t> mine;  // this shard's entries
  ImportanceSettings settings;
  ImportanceArtifact doc;
  std::map<std::string, ImportanceResult> done;
  std::string old_fingerprint;
  std::chrono::steady_clock::time_point t0;
  bool top_now = false;
  std::vector<WorkItem> first, second;
  int total = 0, resumed = 0, finished = 0;
  TeacherPass tp;
};

}  // namespace

ImportanceArtifact run_ablation(const AblationSubject& s, const AblationOptions& o,
                                const RunContext& ctx, const std::filesystem::path& out,
                                bool resume,
                                const std::function<void(const AblationProgress&)>& progress) {
  return AblationRun(s, o, ctx, out, resume, progress).run();
}

ImportanceArtifact merge_importance(const std::vector<std::filesystem::path>& files,
                                    const RunContext& ctx, const std::filesystem::path& out) {
  if (files.empty()) fail("merge needs the shard files");
  std::vector<ImportanceArtifact> docs;
  for (const auto& f : files) {
    if (read_artifact_type(f) != ImportanceArtifact::kArtifact)
      fail("{} is not an importance.json of asdm ablate", f.string());
    docs.push_back(ImportanceArtifact::read(f));
    if (!docs.back().complete)
      fail("{} is unfinished; finish it with --resume before merging", f.string());
  }
  const ImportanceSettings& settings = docs[0].settings;
  const int n = docs[0].shard_count;
  std::vector<int> seen(n, -1);
  for (size_t k = 0; k < docs.size(); ++k) {
    if (!same_settings(settings, docs[k].settings, files[k].string()))
      fail("{} and {} come from runs with other settings ({})", files[0].string(),
           files[k].string(), settings_differences(settings, docs[k].settings));
    if (docs[k].shard_count != n)
      fail("{} is one of {} shards, {} one of {}", files[k].string(), docs[k].shard_count,
           files[0].string(), n);
    const int i = docs[k].shard_index;
    if (seen[i] >= 0)
      fail("{} and {} are both shard {}", files[seen[i]].string(), files[k].string(),
           shard_text(i, n));
    seen[i] = static_cast<int>(k);
  }
  std::vector<std::string> missing;
  for (int i = 0; i < n; ++i)
    if (seen[i] < 0) missing.push_back(shard_text(i, n));
  if (!missing.empty()) fail("shards missing: {}", join_limited(missing, 8));
  for (size_t k = 1; k < docs.size(); ++k)
    if (docs[k].teacher.fingerprint != docs[0].teacher.fingerprint)
      log::warn(
          "{} and {} saw different teacher outputs (another device, thread count or build); "
          "merging anyway",
          files[0].string(), files[k].string());
  std::map<std::string, ImportanceResult> results;
  for (const auto& d : docs)
    for (const auto& r : d.results) results[r.id] = r;
  ImportanceArtifact doc;
  doc.header =
      ArtifactHeader::make(ImportanceArtifact::kArtifact, ImportanceArtifact::kSchemaVersion, ctx);
  // The work was done where the shards ran: their device, not the merging machine's.
  const ArtifactHeader& h0 = docs[0].header;
  doc.header.device_kind = h0.device_kind;
  doc.header.device_name = h0.device_name;
  doc.header.threads = h0.threads;
  for (const auto& d : docs)
    if (d.header.device_kind != h0.device_kind || d.header.device_name != h0.device_name ||
        d.header.threads != h0.threads) {
      for (const auto& x : docs)
        doc.shard_devices.push_back({x.header.device_kind, x.header.device_name, x.header.threads});
      break;
    }
  doc.settings = settings;
  doc.shard_index = 0;
  doc.shard_count = 1;
  doc.definitions = docs[0].definitions;
  doc.latency = docs[0].latency;
  doc.teacher = docs[0].teacher;
  for (const auto& id : settings.plan)
    if (results.count(id)) doc.results.push_back(results.at(id));
  doc.complete = true;
  derive(doc);
  if (!out.empty()) doc.write(out);
  return doc;
}

}  // namespace asdm
