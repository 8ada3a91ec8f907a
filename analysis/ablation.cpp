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

#include <nlohmann/json.hpp>

#include "analysis/sample_metrics.h"
#include "analysis/statistics.h"
#include "analysis/subject_impl.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/unit_id.h"
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

double get_number(const nlohmann::json& j, const nlohmann::json::json_pointer& p) {
  return j.contains(p) && j.at(p).is_number() ? j.at(p).get<double>() : kNaN;
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

SamplerOptions sampler_for(const AblationSubject& s, const AblationOptions& o) {
  SamplerOptions so = o.sampler;
  so.prediction = s.scheduler().prediction;
  so.spacing = s.scheduler().spacing;
  so.steps_offset = s.scheduler().steps_offset;
  so.final_alpha_one = s.scheduler().final_alpha_one;
  return so;
}

// The steps whose inputs tier 1 keeps: K steps spread evenly over the trajectory (bin centres).
std::vector<int> kept_steps(int steps, int k) {
  std::vector<int> out;
  for (int i = 0; i < k; ++i) {
    const int s = static_cast<int>(std::floor((i + 0.5) * steps / k));
    if (out.empty() || out.back() != s) out.push_back(s);
  }
  return out;
}

Denoiser denoiser(const AblationSubject& s, const std::vector<int>& prompts, double guidance,
                  UnitObserver* observer) {
  if (guidance == 1.0)
    return [&s, prompts, observer](const at::Tensor& x, double t) {
      return s.predict(x, t, prompts, observer);
    };
  std::vector<int> both(prompts.size(), -1);
  both.insert(both.end(), prompts.begin(), prompts.end());
  return [&s, both, guidance, observer](const at::Tensor& x, double t) {
    const at::Tensor out = s.predict(torch::cat({x, x}), t, both, observer);
    const auto parts = out.chunk(2, 0);
    return parts[0] + guidance * (parts[1] - parts[0]);
  };
}

at::Tensor epsilon(const AblationSubject& s, const at::Tensor& x, const at::Tensor& out, double t) {
  return x0_and_epsilon(x, out.to(x.scalar_type()), s.scheduler().schedule.alpha_bar(t),
                        s.scheduler().prediction)
      .second;
}

TeacherPass teacher_pass(const AblationSubject& s, const AblationOptions& o, bool want_quality) {
  const auto t0 = std::chrono::steady_clock::now();
  TeacherPass tp;
  const SamplerOptions so = sampler_for(s, o);
  const auto ts = sampling_timesteps(s.scheduler().schedule.train_steps(), so.steps, so.spacing,
                                     so.steps_offset);
  tp.steps = kept_steps(so.steps, o.timesteps);
  for (int i : tp.steps) tp.timesteps.push_back(ts[i]);
  tp.states.resize(tp.steps.size());
  tp.eps.resize(tp.steps.size());
  const int n = s.num_prompts();
  for (int b0 = 0; b0 < n; b0 += o.batch) {
    std::vector<int> idx;
    std::vector<at::Tensor> noise;
    for (int i = b0; i < std::min(n, b0 + o.batch); ++i) {
      idx.push_back(i);
      noise.push_back(prompt_noise(s.sample_shape(), o.seed, i));
    }
    tp.batches.push_back(idx);
    tp.noise.push_back(torch::cat(noise).to(s.device()));
    const Denoiser model = denoiser(s, idx, o.sampler.guidance, nullptr);
    int step = 0;
    const Denoiser keep = [&](const at::Tensor& x, double t) {
      const at::Tensor out = model(x, t);
      const auto it = std::find(tp.steps.begin(), tp.steps.end(), step);
      if (it != tp.steps.end()) {
        const size_t k = it - tp.steps.begin();
        tp.states[k].push_back(x.clone());
        tp.eps[k].push_back(epsilon(s, x, out, t));
      }
      ++step;
      return out;
    };
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

class Bypass : public UnitObserver {
 public:
  explicit Bypass(const std::vector<std::string>& units) : units_(units.begin(), units.end()) {}
  bool bypass(const UnitInfo& u) override { return units_.count(u.id) > 0; }

 private:
  std::set<std::string> units_;
};

nlohmann::json tier1(const AblationSubject& s, const AblationOptions& o, const TeacherPass& tp,
                     const Entry& e) {
  Bypass bypass(e.units);
  const int n = s.num_prompts(), K = static_cast<int>(tp.steps.size());
  std::vector<double> nmse(n, 0.0), cosine(n, 0.0);
  nlohmann::json per_t = nlohmann::json::array();
  for (int k = 0; k < K; ++k) {
    double sn = 0, sc = 0;
    for (size_t b = 0; b < tp.batches.size(); ++b) {
      const at::Tensor& x = tp.states[k][b];
      const at::Tensor eps =
          epsilon(s, x, denoiser(s, tp.batches[b], o.sampler.guidance, &bypass)(x, tp.timesteps[k]),
                  tp.timesteps[k]);
      const auto m = normalised_mse(eps, tp.eps[k][b]), c = cosine_similarities(eps, tp.eps[k][b]);
      for (size_t r = 0; r < m.size(); ++r) {
        const int i = tp.batches[b][r];
        nmse[i] += m[r] / K;
        cosine[i] += c[r] / K;
        sn += m[r];
        sc += c[r];
      }
    }
    per_t.push_back(
        {{"step", tp.steps[k]}, {"t", tp.timesteps[k]}, {"nmse", sn / n}, {"cosine", sc / n}});
  }
  const uint64_t seed = string_seed(e.id, o.seed);
  return {{"nmse", asdm::to_json(bootstrap_mean(nmse, seed, o.bootstrap))},
          {"cosine", asdm::to_json(bootstrap_mean(cosine, seed + 1, o.bootstrap))},
          {"per_timestep", per_t},
          {"per_prompt", {{"nmse", nmse}, {"cosine", cosine}}}};
}

nlohmann::json quality_json(const std::map<std::string, double>& q) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : q) j[k] = finite_or_null(v);
  return j;
}

nlohmann::json tier2(const AblationSubject& s, const AblationOptions& o, const TeacherPass& tp,
                     const Entry& e) {
  Bypass bypass(e.units);
  const SamplerOptions so = sampler_for(s, o);
  const int n = s.num_prompts();
  std::vector<double> ssim_v(n), loss(n), psnr_v(n), nmse_v(n);
  std::vector<at::Tensor> finals;
  std::vector<int> all;
  for (size_t b = 0; b < tp.batches.size(); ++b) {
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
  nlohmann::json j = {{"ssim_loss", asdm::to_json(bootstrap_mean(loss, seed, o.bootstrap))},
                      {"ssim", asdm::to_json(bootstrap_mean(ssim_v, seed + 1, o.bootstrap))},
                      {"psnr_db", asdm::to_json(bootstrap_mean(psnr_v, seed + 2, o.bootstrap))},
                      {"nmse", asdm::to_json(bootstrap_mean(nmse_v, seed + 3, o.bootstrap))},
                      {"per_prompt", {{"ssim", ssim_v}, {"psnr_db", psnr_v}}}};
  if (s.has_quality()) {
    const auto q = s.quality(torch::cat(finals), all, o.seed);
    j["quality"] = quality_json(q);
    nlohmann::json d = nlohmann::json::object();
    for (const auto& [k, v] : q)
      if (tp.quality.count(k)) d[k] = finite_or_null(v - tp.quality.at(k));
    j["quality_delta"] = d;
  }
  return j;
}

// ---- the document -----------------------------------------------------------------------------

bool wants(const std::string& tier, int t) { return tier == "both" || tier == std::to_string(t); }

nlohmann::json settings_json(const AblationSubject& s, const AblationOptions& o,
                             const std::vector<Entry>& plan) {
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : o.groups) groups.push_back(g);
  nlohmann::json ids = nlohmann::json::array();
  for (const auto& e : plan) ids.push_back(e.id);
  nlohmann::json j = {{"subject", s.description()},
                      {"prompts", {{"count", s.num_prompts()}, {"sha256", s.prompts_sha256()}}},
                      {"tier", o.tier},
                      {"timesteps", o.timesteps},
                      {"sampler",
                       {{"name", o.sampler.sampler},
                        {"steps", o.sampler.steps},
                        {"guidance", o.sampler.guidance},
                        {"prediction", to_string(s.scheduler().prediction)},
                        {"spacing", s.scheduler().spacing},
                        {"steps_offset", s.scheduler().steps_offset}}},
                      {"seed", o.seed},
                      {"batch", o.batch},
                      {"bootstrap", o.bootstrap},
                      {"top", o.top},
                      {"rank_from", o.rank_from_path},
                      {"profile", o.profile ? o.profile->path : ""},
                      {"sample_shape", s.sample_shape()},
                      {"output_space", s.output_space()},
                      {"plan", ids}};
  return j;
}

// What the file says about the meaning of its numbers.
nlohmann::json definitions() {
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
void derive(nlohmann::json& doc) {
  auto& results = doc["results"];
  std::map<std::string, const nlohmann::json*> by_id;
  for (const auto& r : results) by_id[r.at("id").get<std::string>()] = &r;
  using P = nlohmann::json::json_pointer;
  const P t1("/tier1/nmse/mean"), t2("/tier2/ssim_loss/mean"),
      dq("/tier2/quality_delta/mean_accuracy");
  // Rankings among single units.
  auto ranking = [&](const P& p, bool ascending_per_ms = false) {
    std::vector<std::pair<double, std::string>> v;
    for (const auto& r : results)
      if (r.at("kind") != "group" && r.contains(p) && r.at(p).is_number())
        v.push_back({r.at(p).get<double>(), r.at("id")});
    std::stable_sort(v.begin(), v.end(), [&](const auto& a, const auto& b) {
      return ascending_per_ms ? a.first < b.first : a.first > b.first;
    });
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& [score, id] : v) ids.push_back(id);
    return ids;
  };
  doc["ranking"] = {{"tier1", ranking(t1)},
                    {"tier2", ranking(t2)},
                    {"tier1_per_ms", ranking(P("/tier1_per_ms"), true)}};
  // Rank correlation between the tiers over single units scored by both.
  auto corr = [&](const P& a, const P& b, bool negate_b) {
    std::vector<double> x, y;
    for (const auto& r : results) {
      if (r.at("kind") == "group") continue;
      const double va = get_number(r, a), vb = get_number(r, b);
      if (std::isnan(va) || std::isnan(vb)) continue;
      x.push_back(va);
      y.push_back(negate_b ? -vb : vb);
    }
    return nlohmann::json{{"spearman", finite_or_null(spearman(x, y))}, {"n", x.size()}};
  };
  doc["rank_correlation"] = {{"tier1_vs_tier2", corr(t1, t2, false)},
                             {"tier1_vs_accuracy_drop", corr(t1, dq, true)},
                             {"tier2_vs_accuracy_drop", corr(t2, dq, true)}};
  // Interactions: a group's score minus the sum of its units' scores, where all were scored.
  for (auto& r : results) {
    if (r.at("kind") != "group") continue;
    nlohmann::json inter = nlohmann::json::object();
    for (const auto& [name, p] : {std::pair{"tier1_nmse", t1}, std::pair{"tier2_ssim_loss", t2}}) {
      const double g = get_number(r, p);
      if (std::isnan(g)) continue;
      double sum = 0;
      bool all = true;
      for (const auto& u : r.at("units")) {
        const auto it = by_id.find(u.get<std::string>());
        const double v = it == by_id.end() ? kNaN : get_number(*it->second, p);
        all = all && !std::isnan(v);
        sum += std::isnan(v) ? 0 : v;
      }
      if (all) inter[name] = {{"group", g}, {"sum_of_units", sum}, {"group_minus_sum", g - sum}};
    }
    if (!inter.empty()) r["interaction"] = inter;
  }
}

struct WorkItem {
  size_t entry;
  int tier;
};

std::string shard_text(int i, int n) { return fmt::format("{}/{}", i, n); }

// The differences between two settings objects, for messages.
std::string settings_diff(const nlohmann::json& a, const nlohmann::json& b) {
  std::vector<std::string> d;
  for (const auto& [k, v] : b.items()) {
    if (!a.contains(k)) {
      d.push_back(fmt::format("{}: absent vs {}", k, v.dump()));
    } else if (a.at(k) != v) {
      std::string x = a.at(k).dump(), y = v.dump();
      if (x.size() > 60) x = x.substr(0, 57) + "...";
      if (y.size() > 60) y = y.substr(0, 57) + "...";
      d.push_back(fmt::format("{}: {} vs {}", k, x, y));
    }
  }
  return join_limited(d, 4);
}

// Settings that must match for results to be joined. The subject's description holds paths, which
// differ between machines and working folders: the prompts' hash, the sample shape and the plan
// identify the work, so a different description is only worth a warning.
bool same_settings(const nlohmann::json& a, const nlohmann::json& b, const std::string& what) {
  nlohmann::json x = a, y = b;
  x.erase("subject");
  y.erase("subject");
  if (x != y) return false;
  if (a.value("subject", "") != b.value("subject", ""))
    log::warn("{}: the model and prompts were given as '{}' there and '{}' here", what,
              a.value("subject", ""), b.value("subject", ""));
  return true;
}

nlohmann::json read_partial(const std::filesystem::path& out) {
  nlohmann::json doc;
  try {
    doc = read_json_file(out);
  } catch (const Error& e) {
    fail("cannot resume from {}: {}; the file was left as it is (move it away to start over)",
         out.string(), e.what());
  }
  if (!doc.is_object() || doc.value("artifact", "") != "importance" || !doc.contains("settings") ||
      !doc.contains("results") || !doc.at("results").is_array() || !doc.contains("shard"))
    fail(
        "cannot resume from {}: it is not an importance.json of asdm ablate; the file was left as "
        "it is",
        out.string());
  for (const auto& r : doc.at("results"))
    if (!r.is_object() || !r.contains("id") || !r.at("id").is_string())
      fail("cannot resume from {}: a result without an id; the file was left as it is",
           out.string());
  return doc;
}

}  // namespace

// ---- public -----------------------------------------------------------------------------------

struct GroupScorer::Impl {
  const AblationSubject& subject;
  AblationOptions options;
  TeacherPass pass;
};

GroupScorer::GroupScorer(const AblationSubject& s, const AblationOptions& o)
    : impl_(new Impl{s, o, {}}) {
  torch::InferenceMode guard;
  validate(sampler_for(s, o), s.scheduler().schedule);
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
  double total = 0;
  int n = 0;
  for (size_t k = 0; k < tp.steps.size(); ++k)
    for (size_t b = 0; b < tp.batches.size(); ++b) {
      const at::Tensor& x = tp.states[k][b];
      const at::Tensor eps = epsilon(
          s, x,
          denoiser(s, tp.batches[b], impl_->options.sampler.guidance, &bypass)(x, tp.timesteps[k]),
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

  nlohmann::json run() {
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
    validate(sampler_for(s, o), s.scheduler().schedule);
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
    settings = settings_json(s, o, plan);
    shard = {{"index", o.shard_index}, {"count", o.shard_count}};
    if (std::filesystem::exists(out) && !resume) {
      // Do not overwrite an unfinished run.
      nlohmann::json old;
      try {
        old = read_json_file(out);
      } catch (const Error&) {
      }
      if (old.is_object() && old.value("artifact", "") == "importance" &&
          !old.value("complete", true))
        fail(
            "{} holds the partial results of an unfinished run; continue it with --resume, or "
            "remove "
            "the file",
            out.string());
    }
    if (resume && std::filesystem::exists(out)) {
      const nlohmann::json old = read_partial(out);
      if (!same_settings(old.at("settings"), settings, out.string()))
        fail(
            "cannot resume from {}: it was made with other settings ({}); use the same flags or "
            "another output",
            out.string(), settings_diff(old.at("settings"), settings));
      if (old.at("shard") != shard)
        fail("cannot resume from {}: it is shard {}, not {}", out.string(), old.at("shard").dump(),
             shard.dump());
      for (const auto& r : old.at("results")) done[r.at("id")] = r;
      old_fingerprint = old.value(nlohmann::json::json_pointer("/teacher/fingerprint"), "");
    } else if (resume) {
      log::info("{} does not exist yet; starting a new run", out.string());
    }
  }

  // ---- work: (entry, tier) items; with `top` and no rank-from, tier 2 waits for every tier 1 ----
  void plan_work() {
    t0 = std::chrono::steady_clock::now();
    top_now = o.top > 0 && o.rank_from.empty();
    int singles = 0, groups = 0;
    for (size_t i : mine) {
      (plan[i].kind == "group" ? groups : singles) += 1;
      if (wants(o.tier, 1)) first.push_back({i, 1});
      if (wants(o.tier, 2) && o.top == 0) first.push_back({i, 2});
    }
    if (o.top > 0 && !top_now)
      for (size_t i : top_units(o.rank_from, o.rank_from_path)) first.push_back({i, 2});
    total = static_cast<int>(first.size()) + (top_now ? std::min(o.top, singles) + groups : 0);
    resumed = 0;
    for (size_t i : mine)
      for (int t : {1, 2})
        if (wants(o.tier, t) && has(i, t)) ++resumed;
  }

  void start_document() {
    doc = make_artifact("importance", kImportanceSchemaVersion, ctx);
    doc["settings"] = settings;
    doc["shard"] = shard;
    doc["definitions"] = definitions();
    if (o.profile)
      doc["latency"] = {{"profile", o.profile->path},
                        {"backend", o.profile->backend},
                        {"device", o.profile->device},
                        {"unobserved_forward_ms", o.profile->forward_ms}};
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
    nlohmann::json teacher = {{"fingerprint", tp.fingerprint},
                              {"kept_steps", tp.steps},
                              {"kept_timesteps", tp.timesteps},
                              {"seconds", tp.seconds}};
    if (!tp.quality.empty()) teacher["quality"] = quality_json(tp.quality);
    doc["teacher"] = teacher;
  }

  // ---- score every item ----
  void score() {
    finished = resumed;
    for (const auto& w : first) run_item(w);
    if (top_now) {
      std::map<std::string, double> scores;
      for (size_t i : mine)
        if (plan[i].kind != "group")
          scores[plan[i].id] = done.at(plan[i].id).at("tier1").at("nmse").at("mean");
      for (size_t i : top_units(scores, "this run")) second.push_back({i, 2});
      for (const auto& w : second) run_item(w);
    }
  }

  void run_item(const WorkItem& w) {
    const Entry& e = plan[w.entry];
    if (has(w.entry, w.tier)) return;
    const auto start = std::chrono::steady_clock::now();
    nlohmann::json& r = done[e.id];
    if (r.is_null()) {
      r = {{"id", e.id}, {"units", e.units}, {"kind", e.kind}};
      if (o.profile) r["latency_saved_ms"] = saved_ms(s.unet().layout(), e, *o.profile);
    }
    const char* key = w.tier == 1 ? "tier1" : "tier2";
    r[key] = w.tier == 1 ? tier1(s, o, tp, e) : tier2(s, o, tp, e);
    if (w.tier == 1 && r.contains("latency_saved_ms"))
      r["tier1_per_ms"] = finite_or_null(r.at("tier1").at("nmse").at("mean").get<double>() /
                                         r.at("latency_saved_ms").get<double>());
    r["seconds"][key] =
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
    nlohmann::json results = nlohmann::json::array();
    for (const auto& e : plan)
      if (done.count(e.id)) results.push_back(done.at(e.id));
    doc["results"] = results;
    doc["complete"] = complete;
    derive(doc);
    write_json_atomic(out, doc);
  }

  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  bool has(size_t i, int tier) const {
    const auto it = done.find(plan[i].id);
    return it != done.end() && it->second.contains(tier == 1 ? "tier1" : "tier2");
  }

  const AblationSubject& s;
  const AblationOptions& o;
  const RunContext& ctx;
  const std::filesystem::path out;
  const bool resume;
  const std::function<void(const AblationProgress&)>& progress;
  std::vector<Entry> plan;
  std::vector<size_t> mine;  // this shard's entries
  nlohmann::json settings, shard, doc;
  std::map<std::string, nlohmann::json> done;
  std::string old_fingerprint;
  std::chrono::steady_clock::time_point t0;
  bool top_now = false;
  std::vector<WorkItem> first, second;
  int total = 0, resumed = 0, finished = 0;
  TeacherPass tp;
};

}  // namespace

nlohmann::json run_ablation(const AblationSubject& s, const AblationOptions& o,
                            const RunContext& ctx, const std::filesystem::path& out, bool resume,
                            const std::function<void(const AblationProgress&)>& progress) {
  return AblationRun(s, o, ctx, out, resume, progress).run();
}

nlohmann::json merge_importance(const std::vector<std::filesystem::path>& files,
                                const RunContext& ctx, const std::filesystem::path& out) {
  if (files.empty()) fail("merge needs the shard files");
  std::vector<nlohmann::json> docs;
  for (const auto& f : files) {
    nlohmann::json d = read_json_file(f);
    if (!d.is_object() || d.value("artifact", "") != "importance" || !d.contains("settings") ||
        !d.contains("shard"))
      fail("{} is not an importance.json of asdm ablate", f.string());
    if (!d.value("complete", false))
      fail("{} is unfinished; finish it with --resume before merging", f.string());
    docs.push_back(std::move(d));
  }
  const nlohmann::json& settings = docs[0].at("settings");
  const int n = docs[0].at("shard").at("count");
  std::vector<int> seen(n, -1);
  for (size_t k = 0; k < docs.size(); ++k) {
    if (!same_settings(settings, docs[k].at("settings"), files[k].string()))
      fail("{} and {} come from runs with other settings ({})", files[0].string(),
           files[k].string(), settings_diff(settings, docs[k].at("settings")));
    if (docs[k].at("shard").at("count") != n)
      fail("{} is one of {} shards, {} one of {}", files[k].string(),
           docs[k].at("shard").at("count").dump(), files[0].string(), n);
    const int i = docs[k].at("shard").at("index");
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
    if (docs[k].value(nlohmann::json::json_pointer("/teacher/fingerprint"), "") !=
        docs[0].value(nlohmann::json::json_pointer("/teacher/fingerprint"), ""))
      log::warn(
          "{} and {} saw different teacher outputs (another device, thread count or build); "
          "merging anyway",
          files[0].string(), files[k].string());
  std::map<std::string, nlohmann::json> results;
  for (const auto& d : docs)
    for (const auto& r : d.at("results")) results[r.at("id")] = r;
  nlohmann::json doc = make_artifact("importance", kImportanceSchemaVersion, ctx);
  // The work was done where the shards ran: their device, not the merging machine's.
  doc["device"] = docs[0].at("device");
  for (const auto& d : docs)
    if (d.at("device") != docs[0].at("device")) {
      nlohmann::json all = nlohmann::json::array();
      for (const auto& x : docs) all.push_back(x.at("device"));
      doc["shard_devices"] = all;
      break;
    }
  doc["settings"] = settings;
  doc["shard"] = {{"index", 0}, {"count", 1}};
  doc["definitions"] = docs[0].at("definitions");
  if (docs[0].contains("latency")) doc["latency"] = docs[0].at("latency");
  doc["teacher"] = docs[0].at("teacher");
  nlohmann::json ordered = nlohmann::json::array();
  for (const auto& id : settings.at("plan"))
    if (results.count(id)) ordered.push_back(results.at(id));
  doc["results"] = ordered;
  doc["complete"] = true;
  derive(doc);
  if (!out.empty()) write_json_atomic(out, doc);
  return doc;
}

}  // namespace asdm
