#include "pruner/search_candidates.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "analysis/importance_io.h"
#include "core/error.h"
#include "core/score_memo.h"
#include "core/sha256.h"
#include "model/checkpoint.h"
#include "model/cuda_graph.h"
#include "model/model_files.h"
#include "model/unet.h"
#include "profiler/cost_model.h"
#include "profiler/profile.h"
#include "profiler/profile_io.h"
#include "profiler/replacement_cost.h"
#include "pruner/latency_model.h"
#include "pruner/refine.h"
#include "pruner/replacements.h"

namespace asdm {
namespace {

void say(const SearchProgress& p, const std::string& message) {
  if (p.note) p.note(message);
}

// Everything the phases share: the inputs as read, and the replacement blocks' timings (once per
// unit and options).
struct Context {
  Context(const CandidateSearchOptions& options, const SearchProgress& p)
      : o(options), progress(p) {}
  const CandidateSearchOptions& o;
  const SearchProgress& progress;
  GroupLossFn scorer;
  GroupLossSpread spread;
  std::unique_ptr<ScoreMemo> memo;  // with a scorer: the grouped scores, kept
  ProfileLatency profile;
  ImportanceScores importance;
  std::string model;
  ArchSpec teacher;
  UNetLayout layout;
  std::unique_ptr<LatencyModel> latency;
  ProfileOptions po;
  InputShape ci;
  std::map<std::string, ReplacementCost> timed;

  // Grouped scores of the removal sets `sets`, each with `edits` applied, through the kept scores;
  // `compute` scores those not kept.
  using SetScores =
      std::function<std::vector<double>(const std::vector<std::vector<std::string>>&)>;
  std::vector<double> grouped(const std::vector<Edit>& edits,
                              const std::vector<std::vector<std::string>>& sets,
                              const SetScores& compute) {
    nlohmann::json e = nlohmann::json::array();
    for (const auto& x : edits) e.push_back({int(x.op), x.unit, x.window, x.pool});
    std::vector<std::string> keys;
    for (auto set : sets) {
      std::sort(set.begin(), set.end());
      keys.push_back(sha256_hex(nlohmann::json{{"edits", e}, {"removed", set}}.dump()));
    }
    return memo->scores(keys, [&](const std::vector<size_t>& missing) {
      std::vector<std::vector<std::string>> unscored;
      for (size_t i : missing) unscored.push_back(sets[i]);
      return compute(unscored);
    });
  }

  // A replacement edit's measured cost on top of a removal set, timed once per key.
  const ReplacementCost& cost_of(const ArchSpec& removal, const Edit& e, const std::string& key) {
    if (!timed.count(key)) {
      ArchSpec one = removal;
      one.edits.push_back(e);
      timed[key] = time_replacements(one, ci).at(0);
    }
    return timed.at(key);
  }
  bool gri_scored() const { return o.gri && scorer && o.metric == "tier1"; }
};

std::string gri_key(const Edit& e) { return fmt::format("{}<gri {} {}", e.unit, e.window, e.pool); }

// ---- load: profile, importance, teacher, the predictor and the profiled input ----
void load_inputs(Context& cx) {
  const auto& o = cx.o;
  cx.profile = read_profile_latency(o.profile);
  cx.importance = read_importance_scores(o.importance, o.metric);
  cx.model = o.model.empty() ? cx.profile.model : o.model;
  if (cx.model.empty()) fail("{} does not name its model; pass --model", o.profile);
  cx.teacher = load_arch(locate_model(cx.model));
  if (!cx.teacher.edits.empty())
    say(cx.progress, fmt::format("{} is itself a student ({} edits); searching on top of it",
                                 cx.model, cx.teacher.edits.size()));
  cx.layout = cx.teacher.student_layout();
  cx.latency = std::make_unique<LatencyModel>(cx.profile, cx.layout);
  if (const std::string w = cx.latency->consistency_warning(); !w.empty()) say(cx.progress, w);
  cx.po.resolution = cx.profile.input.resolution;
  cx.po.batch = cx.profile.input.batch;
  cx.po.text_tokens = cx.profile.input.text_tokens;
  cx.po.runs = o.runs;
  cx.po.warmup = o.warmup;
  if (o.graphs && !cx.profile.graphs)
    fail(
        "--graphs measures CUDA-graph replays, but {} was profiled eagerly: predicted and measured "
        "times would be of different kinds (profile with asdm profile --graphs)",
        o.profile);
  cx.po.graphs = cx.profile.graphs && (o.measure || o.validate > 0);
  if (cx.po.graphs) require_graphs(o.device, "measuring a profile taken with --graphs");
  cx.ci = InputShape::square(profile_latent_side(cx.layout.config, cx.po), cx.po.vae_scale,
                             cx.po.batch, cx.po.text_tokens);
}

// ---- GRI as a scored third choice per attention unit (where it measures faster) ----
std::vector<GriScoreEntry> score_gri(Context& cx, SearchOptions& so) {
  const auto& o = cx.o;
  if (o.gri && cx.scorer && !cx.gri_scored())
    say(cx.progress,
        fmt::format("warning: GRI's quality is scored in tier 1; with --metric {} it is placed by "
                    "latency only",
                    o.metric));
  if (o.gri && !cx.scorer)
    say(cx.progress,
        "warning: GRI is placed by latency only: its effect on quality is scored when "
        "--refine-prompts or --refine-embeddings is given");
  std::vector<GriScoreEntry> scores;
  if (!cx.gri_scored()) return scores;
  for (const auto& e : gri_edits(cx.teacher, cx.ci, o.gri_window, o.gri_pool, o.gri_min_tokens)) {
    const ReplacementCost& cost = cx.cost_of(cx.teacher, e, gri_key(e));
    const double loss = cx.grouped(
        {e}, std::vector<std::vector<std::string>>(1),
        [&](const auto& sets) { return std::vector<double>{cx.scorer({e}, sets.at(0))}; })[0];
    const bool faster = cost.extra_ms() < 0;
    if (faster) so.gri[e.unit] = {-cost.extra_ms(), loss};
    scores.push_back({e.unit, e.window, e.pool, -cost.extra_ms(), loss, faster});
    say(cx.progress,
        fmt::format(
            "GRI in {}: saves {:.2f} ms, tier-1 score {:.3g} (removing the unit: {:.3g}){}", e.unit,
            -cost.extra_ms(), loss,
            cx.importance.units.count(e.unit) ? cx.importance.units.at(e.unit) : std::nan(""),
            faster ? "" : "; slower, not searched"));
  }
  return scores;
}

// ---- refinement: the first candidate re-scored as a group, units swapped while that helps; an
// improved set goes first. Its GRI units stay GRI. ----
Refinement refine_first(Context& cx, SearchOptions so, SearchResult& r) {
  const auto& o = cx.o;
  say(cx.progress, fmt::format("refinement: up to {} grouped scores", o.refine_evals));
  const Candidate& first = r.candidates.at(0);
  std::vector<Edit> gri;
  for (const auto& id : first.gri) gri.push_back(Edit::gri(id, o.gri_window, o.gri_pool));
  so.keep.insert(so.keep.end(), first.gri.begin(), first.gri.end());
  double gri_saved = 0, gri_loss = 0;
  for (const auto& id : first.gri) {
    gri_saved += so.gri.at(id).saved_ms;
    gri_loss += so.gri.at(id).loss;
  }
  RefineOptions ro;
  ro.max_evaluations = o.refine_evals;
  int done = 0;
  const RefineResult rr =
      refine(cx.layout, *cx.latency, cx.importance.units, so, first.removed,
             (1 - so.target_speedup) * cx.latency->teacher_ms() + gri_saved,
             GroupedLosses([&](const std::vector<std::vector<std::string>>& sets) {
               const std::vector<double> losses = cx.grouped(gri, sets, [&](const auto& unscored) {
                 if (cx.spread) return cx.spread(cx.scorer, gri, unscored);
                 std::vector<double> l;
                 for (const auto& set : unscored) l.push_back(cx.scorer(gri, set));
                 return l;
               });
               for (size_t i = 0; i < sets.size(); ++i)
                 say(cx.progress, fmt::format("refinement: grouped score {}/{}: {:.4g} ({} units)",
                                              ++done, o.refine_evals, losses[i], sets[i].size()));
               return losses;
             }),
             ro);
  Refinement out{"tier-1 nMSE of the units bypassed together",
                 rr.start_loss,
                 rr.loss,
                 rr.evaluations,
                 first.removed,
                 rr.removed,
                 {}};
  for (const auto& s : rr.steps) out.swaps.push_back({s.out, s.in, s.loss});
  if (!rr.steps.empty()) {
    Candidate c;
    c.removed = rr.removed;
    c.gri = first.gri;
    c.predicted_ms = cx.latency->predict_ms(c.removed) - gri_saved;
    c.predicted_speedup = 1 - c.predicted_ms / cx.latency->teacher_ms();
    c.predicted_loss = gri_loss;
    for (const auto& id : c.removed) c.predicted_loss += cx.importance.units.at(id);
    r.candidates.insert(r.candidates.begin(), c);
  }
  return out;
}

// ---- replacement blocks: each candidate's ArchSpec with its CLME and GRI edits, and their
// measured cost added to the prediction; candidates that no longer meet the target are dropped ----
struct Built {
  Candidate c;
  ArchSpec spec;
  double extra_ms = 0;
};

std::vector<Built> add_replacements(Context& cx, const SearchResult& r) {
  const auto& o = cx.o;
  std::vector<Built> kept;
  for (const auto& c : r.candidates) {
    ArchSpec s = cx.teacher;
    for (const auto& id : c.removed) s.edits.push_back(Edit::remove(id));
    double extra = 0;
    const ArchSpec removal = s;
    if (o.clme) {
      const auto edits = clme_edits(s);
      s.edits.insert(s.edits.end(), edits.begin(), edits.end());
      for (const auto& e : edits)
        extra += cx.cost_of(removal, e, e.unit + "<" + fmt::format("{}", fmt::join(e.experts, ",")))
                     .extra_ms();
    }
    for (const auto& id : c.gri)
      s.edits.push_back(Edit::gri(id, o.gri_window, o.gri_pool));  // in predicted_ms already
    if (o.gri && !cx.gri_scored()) {
      // GRI where it measures faster than full self-attention at the profiled input.
      for (const auto& e : gri_edits(removal, cx.ci, o.gri_window, o.gri_pool, o.gri_min_tokens)) {
        const double d = cx.cost_of(removal, e, gri_key(e)).extra_ms();
        if (d >= 0) continue;
        s.edits.push_back(e);
        extra += d;
      }
    }
    Candidate adjusted = c;
    if (o.clme || o.gri) {
      adjusted.predicted_ms += extra;
      adjusted.predicted_speedup = 1 - adjusted.predicted_ms / cx.latency->teacher_ms();
      if (adjusted.predicted_speedup < o.search.target_speedup ||
          kept.size() >= size_t(o.search.max_candidates))
        continue;
    }
    kept.push_back({adjusted, s, extra});
  }
  if ((o.clme || o.gri) && kept.empty())
    fail(
        "with the replacement blocks' measured cost no candidate up to speedup {:.3f} meets the "
        "target {:.3f}; lower --target-speedup or search without --allow",
        r.candidates.empty() ? 0.0 : r.candidates.back().predicted_speedup,
        o.search.target_speedup);
  return kept;
}

// Random removal sets for --validate: each unit removed with a probability drawn per set from
// [0.1, 0.6].
std::vector<std::vector<std::string>> random_removal_sets(const UNetLayout& layout, int n) {
  std::vector<std::vector<std::string>> sets;
  std::mt19937_64 rng(20261127);
  for (int k = 0; k < n; ++k) {
    const double p = std::uniform_real_distribution<double>(0.1, 0.6)(rng);
    std::vector<std::string> set;
    for (const auto& id : layout.ids(true))
      if (layout.at(id).parent.empty() && std::uniform_real_distribution<double>(0, 1)(rng) < p)
        set.push_back(id);
    sets.push_back(set);
  }
  return sets;
}

// ---- measure: the teacher, every candidate and the random sets, interleaved (random weights:
// latency does not depend on their values) ----
std::vector<Summary> measure(Context& cx, const std::vector<Built>& built,
                             const std::vector<std::vector<std::string>>& random_sets) {
  std::vector<std::unique_ptr<UNet>> unets;
  auto add = [&](const ArchSpec& spec) {  // one at a time: a float32 CPU copy lives only briefly
    unets.push_back(std::make_unique<UNet>(spec));
    unets.back()->to(cx.o.device, cx.o.dtype);
    unets.back()->set_channels_last(cx.profile.channels_last);  // measured as it was profiled
  };
  add(cx.teacher);
  for (const auto& b : built) add(b.spec);
  for (const auto& set : random_sets) {
    ArchSpec s = cx.teacher;
    for (const auto& id : set) s.edits.push_back(Edit::remove(id));
    add(s);
  }
  std::vector<const UNet*> ptrs;
  for (const auto& u : unets) ptrs.push_back(u.get());
  say(cx.progress,
      fmt::format("measuring the teacher, {} candidates and {} random removal sets: {} + {} "
                  "interleaved rounds",
                  built.size(), random_sets.size(), cx.po.warmup, cx.po.runs));
  return time_forwards_interleaved(ptrs, cx.po, cx.progress.measuring);
}

// ---- write: the CandidateSet ----
CandidateSet assemble(const Context& cx, const RunContext& context, const SearchResult& r,
                      const std::vector<Built>& built, std::vector<GriScoreEntry> gri_scores,
                      std::optional<Refinement> refinement,
                      const std::vector<std::vector<std::string>>& random_sets,
                      const std::vector<Summary>& measured) {
  const auto& o = cx.o;
  CandidateSet s;
  s.header = ArtifactHeader::make(CandidateSet::kArtifact, CandidateSet::kSchemaVersion, context);
  s.teacher.model = cx.model;
  s.teacher.profile = o.profile;
  s.teacher.profile_backend = cx.profile.backend;
  s.teacher.profile_device = cx.profile.device;
  s.teacher.forward_ms = cx.profile.forward_ms;
  s.teacher.input = cx.ci;
  const CostReport tc = estimate_cost(cx.teacher, cx.ci);
  s.teacher.params = tc.params;
  s.teacher.macs = tc.macs;
  if (o.measure) s.teacher.measured_ms = measured[0];
  s.importance = {o.importance, o.metric, cx.importance.subject};
  s.options = {
      o.search.target_speedup, o.search.candidate_step, o.search.max_candidates,      o.search.bins,
      o.search.keep,           o.search.remove,         o.search.keep_cross_attention};
  const bool replacing = o.clme || o.gri;
  s.predictor =
      std::string(
          "teacher forward median minus the removed units' median inclusive times (profile.json)") +
      (replacing
           ? " plus each replacement block's measured time difference (CLME-CondConv against the "
             "convolutions it replaces, GRI against full self-attention; GRI placed only where "
             "faster)"
           : "");
  s.predicted_loss =
      "sum of the removed units' importance scores (" + o.metric + ")" +
      std::string(cx.gri_scored()
                      ? " and of the GRI units' scores (tier-1 nMSE of the teacher with that "
                        "unit's self-attention as GRI, the importance run's settings)"
                      : "");
  if (o.clme) s.replacements.push_back("clme");
  if (o.gri) s.replacements.push_back("gri");
  if (replacing) {
    s.replacement_costs.emplace();
    for (const auto& [key, c] : cx.timed)
      s.replacement_costs->push_back({c.unit, c.kind, c.kind == "clme" ? "experts" : "options",
                                      key.substr(key.find('<') + 1), c.plain_ms, c.replaced_ms,
                                      c.extra_ms()});
  }
  if (cx.gri_scored()) s.gri_scores = std::move(gri_scores);
  s.searched_units = r.searched_units;
  s.best_reachable_speedup = r.best_reachable_speedup;
  const bool refined_set = refinement && !refinement->swaps.empty();
  for (size_t k = 0; k < built.size(); ++k) {
    const Candidate& c = built[k].c;
    const CostReport cost = estimate_cost(built[k].spec, cx.ci);
    CandidateEntry e;
    e.name = fmt::format("c{}", k + 1);
    e.removed = c.removed;
    e.gri = c.gri;
    e.predicted_ms = c.predicted_ms;
    e.predicted_speedup = c.predicted_speedup;
    e.predicted_loss = c.predicted_loss;
    e.replacement_ms = built[k].extra_ms;
    e.refined = refined_set && refinement->removed == c.removed;
    e.params = cost.params;
    e.macs = cost.macs;
    e.arch = built[k].spec;
    if (o.measure) {
      const double m = measured[k + 1].median, t = measured[0].median;
      // The predictor is relative to the profile's teacher time; scaled to this run's teacher.
      const double pred = c.predicted_ms / cx.profile.forward_ms * t;
      e.measured_ms = measured[k + 1];
      e.measured_speedup = 1 - m / t;
      e.prediction_error = pred / m - 1;
    }
    s.candidates.push_back(e);
  }
  for (const auto& p : r.front) s.front.emplace_back(p.speedup, p.loss);
  if (o.validate > 0) {
    // The predictor against random removal sets (removal only), scaled to this run's teacher time.
    Validation v;
    double sum_abs = 0;
    const double t = measured[0].median;
    for (size_t k = 0; k < random_sets.size(); ++k) {
      const Summary& m = measured[1 + built.size() + k];
      const double pred = cx.latency->predict_ms(random_sets[k]) / cx.profile.forward_ms * t;
      const double err = pred / m.median - 1;
      sum_abs += std::abs(err);
      v.max_abs_error = std::max(v.max_abs_error, std::abs(err));
      v.sets.push_back({random_sets[k], pred, m, err});
    }
    v.mean_abs_error = sum_abs / random_sets.size();
    s.validation = v;
  }
  s.refinement = std::move(refinement);
  return s;
}

}  // namespace

CandidateSet search_candidates(const CandidateSearchOptions& options,
                               const GroupLossFactory& make_scorer, const RunContext& context,
                               const SearchProgress& progress, const GroupLossSpread& spread) {
  Context cx(options, progress);
  cx.spread = spread;
  load_inputs(cx);
  if (make_scorer) {
    cx.scorer = make_scorer(cx.model, cx.importance);
    const ImportanceRunSettings& st = cx.importance.settings;
    const std::string identity = options.scoring_inputs.empty()
                                     ? std::string()
                                     : nlohmann::json{{"inputs", options.scoring_inputs},
                                                      {"model", cx.model},
                                                      {"timesteps", st.timesteps},
                                                      {"sampler", st.sampler},
                                                      {"steps", st.steps},
                                                      {"guidance", st.guidance},
                                                      {"seed", st.seed},
                                                      {"latent_side", st.latent_side}}
                                           .dump();
    cx.memo = std::make_unique<ScoreMemo>(identity.empty() ? "" : options.scores_file, identity,
                                          "grouped tier-1 scores of removal sets (asdm search)",
                                          progress.note);
  }
  SearchOptions so = options.search;
  std::vector<GriScoreEntry> gri_scores = score_gri(cx, so);
  // Replacement blocks change the time the removal-only front predicts: search further along the
  // front and keep the candidates that meet the target with their measured costs added.
  if (options.clme || (options.gri && !cx.gri_scored())) so.max_candidates += 8;
  SearchResult r = search(cx.layout, *cx.latency, cx.importance.units, so);
  std::optional<Refinement> refinement;
  if (cx.scorer) refinement = refine_first(cx, so, r);
  if (cx.memo && cx.memo->kept() > 0)
    say(progress, fmt::format("{} grouped score(s) taken from {}, {} computed", cx.memo->kept(),
                              cx.memo->file().string(), cx.memo->computed()));
  const std::vector<Built> built = add_replacements(cx, r);
  const auto random_sets = random_removal_sets(cx.layout, options.validate);
  std::vector<Summary> measured;
  if (options.measure || options.validate > 0) measured = measure(cx, built, random_sets);
  return assemble(cx, context, r, built, std::move(gri_scores), std::move(refinement), random_sets,
                  measured);
}

std::string candidates_table(const CandidateSet& s) {
  std::string out;
  if (s.refinement)
    out += fmt::format(
        "refinement: grouped loss {:.4g} -> {:.4g} after {} grouped scores, {} swap(s)\n",
        s.refinement->start_grouped_loss, s.refinement->grouped_loss, s.refinement->evaluations,
        s.refinement->swaps.size());
  out += fmt::format("{:<4} {:>8} {:>8} {:>9} {:>9} {:>9} {:>10} {:>8} {:>9}  {}\n", "", "pred ms",
                     "speedup", "meas ms", "speedup", "error", "pred loss", "params", "GMACs",
                     "removed units");
  for (const auto& c : s.candidates) {
    std::string meas = "-", mspeed = "-", err = "-";
    if (c.measured_ms) {
      meas = fmt::format("{:.2f}", c.measured_ms->median);
      mspeed = fmt::format("{:.3f}", *c.measured_speedup);
      err = fmt::format("{:+.1f}%", 100 * *c.prediction_error);
    }
    out += fmt::format("{:<4} {:8.2f} {:8.3f} {:>9} {:>9} {:>9} {:10.4g} {:7.1f}M {:9.2f}  {}{}\n",
                       c.name, c.predicted_ms, c.predicted_speedup, meas, mspeed, err,
                       c.predicted_loss, c.params / 1e6, c.macs / 1e9, join_limited(c.removed, 4),
                       c.gri.empty() ? "" : fmt::format("; GRI in {}", join_limited(c.gri, 3)));
  }
  if (s.validation)
    out +=
        fmt::format("predictor on {} random removal sets: mean |error| {:.1f}%, max {:.1f}%{}\n",
                    s.validation->sets.size(), 100 * s.validation->mean_abs_error,
                    100 * s.validation->max_abs_error,
                    s.validation->max_abs_error > 0.05
                        ? " (above 5%: the units' times do not add up on this machine; a per-stage "
                          "interaction correction is not built)"
                        : " (additive within 5%)");
  out += fmt::format(
      "teacher: {:.2f} ms (profile){}; {} units searched; best reachable speedup {:.3f}\n",
      s.teacher.forward_ms,
      s.teacher.measured_ms
          ? fmt::format(", {:.2f} ms measured with the candidates", s.teacher.measured_ms->median)
          : "",
      s.searched_units, s.best_reachable_speedup);
  return out;
}

}  // namespace asdm
