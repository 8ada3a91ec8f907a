#include "pruner/cache_search.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/importance_io.h"
#include "analysis/temporal_record.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/score_memo.h"
#include "core/sha256.h"
#include "model/model_files.h"
#include "profiler/profile_io.h"
#include "pruner/latency_model.h"

namespace asdm {
namespace {

// A plan's key in the kept scores: its content (the model, its calls, reuses and skips; not its
// name or policy text).
std::string plan_key(const CachePlan& p) {
  nlohmann::json j = {{"model", to_json(p.model)}, {"calls", p.calls}, {"reuse", p.reuse}};
  if (p.skip_level != 0)
    j.update({{"skip_level", p.skip_level}, {"skip_layers", p.skip_layers}, {"skip", p.skip}});
  return sha256_hex(j.dump());
}

// The plans' grouped losses through the kept scores.
std::vector<double> plan_losses(ScoreMemo& memo, const PlanScoring& sc,
                                const std::vector<CachePlan>& plans) {
  std::vector<std::string> keys;
  for (const auto& p : plans) keys.push_back(plan_key(p));
  return memo.scores(keys, [&](const std::vector<size_t>& missing) {
    std::vector<CachePlan> unscored;
    for (size_t i : missing) unscored.push_back(plans[i]);
    return sc.losses(unscored);
  });
}

struct Baseline {
  TemporalCandidate predicted;
  CachePlan plan;
};

// DeepCache's uniform policy at each interval, in two forms: the units at resolution level >=
// `level` that temporal.json has reuse their branches (priced by the search's model), and the
// skip-branch form (nothing at those levels runs; its time predicted from the profile, its loss
// not predicted: --measure measures it).
std::vector<Baseline> baselines(const CacheSearchOptions& o, const ArchSpec& spec,
                                const LatencyModel& latency, const ProfileLatency& profile,
                                const TemporalArtifact& t) {
  const UNetLayout layout = spec.student_layout();
  std::vector<std::string> units;
  for (const auto& u : layout.units)
    if (u.removable() && u.parent.empty() && u.level >= o.baseline_level)
      for (const auto& tu : t.units)
        if (tu.id == u.id) units.push_back(u.id);
  // What a skip call does not run: every top-level unit at those levels, the downsampler into
  // them, and with skip layers K the down layers from K on and the up layers before the last K + 1
  // of the blocks at the level above.
  const int K = o.baseline_skip_layers, L = o.baseline_level;
  std::map<int, int> up_layers;  // up block index at level L - 1: its layers
  for (const auto& b : layout.up)
    if (b.level == L - 1) up_layers[b.index] = int(b.resnets.size());
  auto skipped = [&](const UnitInfo& u) {
    if (u.level >= L || (u.kind == UnitKind::kDownsample && u.level + 1 >= L)) return true;
    if (K < 0 || u.level != L - 1 || !u.removable()) return false;
    if (u.stage == Stage::kDown) return u.layer >= K;
    return u.stage == Stage::kUp && up_layers.count(u.block) &&
           u.layer < up_layers.at(u.block) - 1 - K;
  };
  double skipped_ms = 0;
  for (const auto& u : layout.units)
    if (u.parent.empty() && profile.units.count(u.id) && u.kind != UnitKind::kFixed && skipped(u))
      skipped_ms += profile.units.at(u.id).inclusive_ms;
  // Units that add up to more than the forward (timed under other load: consistency_warning) would
  // predict a skip call below zero; their times are scaled to the forward's then.
  if (latency.unit_share() > 1) skipped_ms /= latency.unit_share();
  const int C = t.settings.calls;
  std::vector<Baseline> out;
  for (int k : o.baseline_intervals) {
    if (k < 0) fail("baseline intervals must be at least 2 (0: no baselines), got {}", k);
    if (k == 0) continue;
    if (!units.empty()) {
      Baseline b{{}, CachePlan::uniform(spec, units, k, C)};
      b.predicted = predict_plan(layout, latency, t, b.plan.reuse);
      b.predicted.name = fmt::format("deepcache-l{}-k{}", o.baseline_level, k);
      out.push_back(b);
    }
    Baseline b{{}, CachePlan::uniform_skip(spec, L, k, C, K)};
    b.predicted.name = K < 0 ? fmt::format("deepcache-skip-l{}-k{}", L, k)
                             : fmt::format("deepcache-skip-l{}-layers{}-k{}", L, K, k);
    b.predicted.reuse.assign(C, {});
    const int skips = b.plan.reusing_calls();
    b.predicted.predicted_ms = C * latency.teacher_ms() - skips * skipped_ms;
    b.predicted.predicted_speedup = 1 - b.predicted.predicted_ms / (C * latency.teacher_ms());
    b.predicted.reuse_loss = std::nan("");
    out.push_back(b);
  }
  return out;
}

// Every candidate and baseline gets its grouped loss; the first o.refine_candidates candidates are
// refined, a refined plan that differs going in right after its start.
std::vector<PlanRefinement> refine_and_score(const CacheSearchOptions& o, const PlanScoring& sc,
                                             ScoreMemo& memo, const ArchSpec& spec,
                                             const UNetLayout& layout, const LatencyModel& latency,
                                             const TemporalArtifact& t, TemporalSearchResult& r,
                                             std::vector<TemporalCandidate>& base,
                                             const std::vector<Baseline>& base_plans,
                                             const std::function<void(const std::string&)>& note) {
  auto say = [&](const std::string& s) {
    if (note) note(s);
  };
  auto plan_of = [&](const TemporalCandidate& c) {
    return candidate_plan(c, spec, t.settings.steps, t.settings.sampler);
  };
  const std::vector<ReuseMenu> menus =
      reuse_menus(layout, latency, t, o.search.keep, o.search.max_gap);
  std::vector<PlanRefinement> out;
  PlanRefineOptions refine_options = o.refine;
  refine_options.interaction_prior = o.refine.interaction_prior && sc.additive;
  // Refines c at its own predicted time: c gets its grouped loss, and a plan that improved on it
  // is returned (named c.name + "r").
  auto refine = [&](TemporalCandidate& c) -> std::optional<TemporalCandidate> {
    PlanRefinement f;
    f.from = c.name;
    f.metric = sc.metric;
    int done = 0;
    say(fmt::format("refining {}: up to {} grouped scores ({})", c.name, o.refine.max_evaluations,
                    sc.metric));
    const PlanRefineResult rr = refine_plan(
        layout, latency, menus, c, r.teacher_ms, c.predicted_ms,
        [&](const std::vector<TemporalCandidate>& batch) {
          std::vector<CachePlan> plans;
          for (const auto& b : batch) plans.push_back(plan_of(b));
          const std::vector<double> l = plan_losses(memo, sc, plans);
          for (size_t k = 0; k < l.size(); ++k)
            say(fmt::format("refining {}: grouped score {}/{}: {:.4g} ({:.1f}% predicted)", c.name,
                            ++done, o.refine.max_evaluations, l[k],
                            100 * batch[k].predicted_speedup));
          return l;
        },
        refine_options);
    f.start_loss = rr.start_loss;
    f.loss = rr.loss;
    f.evaluations = rr.evaluations;
    f.moves = rr.moves;
    c.grouped_loss = rr.start_loss;
    std::optional<TemporalCandidate> result;
    if (!rr.moves.empty()) {
      TemporalCandidate refined = rr.candidate;
      refined.name = f.name = c.name + "r";
      refined.refined_from = c.name;
      refined.grouped_loss = rr.loss;
      result = refined;
    }
    say(fmt::format("refined {}: grouped loss {:.4g} -> {:.4g} after {} scores, {} move(s)", c.name,
                    rr.start_loss, rr.loss, rr.evaluations, rr.moves.size()));
    out.push_back(f);
    return result;
  };
  std::vector<TemporalCandidate> cands;
  const int refine_n = std::min<int>(o.refine_candidates, int(r.candidates.size()));
  for (int i = 0; i < int(r.candidates.size()); ++i) {
    TemporalCandidate c = r.candidates[i];
    const auto refined = i < refine_n ? refine(c) : std::nullopt;
    cands.push_back(c);
    if (refined) cands.push_back(*refined);
  }
  // The unit-reuse baselines as starts too: a better plan found from one is a searched candidate.
  if (o.refine_baselines) {
    std::set<std::string> with_menu;
    for (const auto& m : menus) with_menu.insert(m.unit);
    for (auto& b : base) {
      bool unit_form = false, covered = true;
      for (const auto& call : b.reuse)
        for (const auto& id : call) {
          unit_form = true;
          covered = covered && with_menu.count(id) > 0;
        }
      if (!unit_form) continue;  // the skip-branch form: no reuses to move
      if (!covered) {
        say(fmt::format("not refining {}: it reuses units kept out of the search (--keep)",
                        b.name));
        continue;
      }
      if (const auto refined = refine(b)) cands.push_back(*refined);
    }
  }
  // The rest, scored whole: unrefined candidates and every baseline.
  std::vector<CachePlan> plans;
  std::vector<TemporalCandidate*> targets;
  for (auto& c : cands)
    if (std::isnan(c.grouped_loss)) {
      plans.push_back(plan_of(c));
      targets.push_back(&c);
    }
  for (size_t k = 0; k < base.size(); ++k)
    if (std::isnan(base[k].grouped_loss)) {
      plans.push_back(base_plans[k].plan);
      targets.push_back(&base[k]);
    }
  if (!plans.empty()) {
    say(fmt::format("scoring {} more plans whole ({})", plans.size(), sc.metric));
    const std::vector<double> l = plan_losses(memo, sc, plans);
    for (size_t k = 0; k < l.size(); ++k) targets[k]->grouped_loss = l[k];
  }
  r.candidates = cands;
  return out;
}

}  // namespace

CacheSearchOutput search_cache_plans(const CacheSearchOptions& options,
                                     const std::filesystem::path& out, const RunContext& context,
                                     const PlanScoringFactory& scoring,
                                     const std::function<void(const std::string&)>& note) {
  CacheSearchOptions o = options;
  const TemporalArtifact t = TemporalArtifact::read(o.temporal);
  const ProfileLatency profile = read_profile_latency(o.profile);
  if (o.model.empty()) o.model = profile.model;
  if (o.model.empty()) fail("--model is needed: {} does not name its model", o.profile);
  const ArchSpec spec = load_arch(locate_model(o.model));
  const UNetLayout layout = spec.student_layout();
  const LatencyModel latency(profile, layout);
  if (const std::string w = latency.consistency_warning(); !w.empty() && note) note(w);
  std::map<std::string, double> scores;
  if (!o.importance.empty()) {
    scores = read_importance_scores(o.importance, o.metric).units;
    o.search.removals = true;
  }
  TemporalSearchResult r = temporal_search(layout, latency, t, scores, o.search);
  const std::vector<Baseline> base_plans = baselines(o, spec, latency, profile, t);
  std::vector<TemporalCandidate> base;
  for (const auto& b : base_plans) base.push_back(b.predicted);
  std::vector<PlanRefinement> refinements;
  std::string grouped_metric, grouped_definition;
  int computed = 0, kept = 0;
  if (scoring) {
    const PlanScoring sc = scoring(o.model, t.settings);
    grouped_metric = sc.metric;
    grouped_definition = sc.definition;
    ScoreMemo memo(sc.identity.empty() ? std::filesystem::path() : out / kGroupedScoresFile,
                   sc.identity, "grouped losses of cache plans, keyed by the plan's SHA-256", note);
    refinements =
        refine_and_score(o, sc, memo, spec, layout, latency, t, r, base, base_plans, note);
    computed = memo.computed();
    kept = memo.kept();
    if (kept > 0 && note)
      note(fmt::format("{} grouped score(s) taken from {}, {} computed", kept,
                       (out / kGroupedScoresFile).string(), computed));
  }

  std::filesystem::create_directories(out);
  auto write_plan = [&](const TemporalCandidate& c, const CachePlan* given = nullptr) {
    CachePlan p = given ? *given : candidate_plan(c, spec, t.settings.steps, t.settings.sampler);
    p.header = ArtifactHeader::make(CachePlan::kArtifact, CachePlan::kSchemaVersion, context);
    p.check(p.model, p.calls);
    p.write(out / (c.name + ".plan.json"));
    if (!c.removed.empty())
      write_json_atomic(out / (c.name + ".arch.json"), to_json(candidate_arch(c, spec)));
  };
  for (const auto& c : r.candidates) write_plan(c);
  for (const auto& b : base_plans) write_plan(b.predicted, &b.plan);
  nlohmann::json doc = ArtifactHeader::make("cache_search", 1, context).to_json();
  doc.update(temporal_search_json(r, base, o.search));
  if (scoring) {
    doc["grouped_loss"] = {{"metric", grouped_metric}, {"definition", grouped_definition}};
    nlohmann::json rs = nlohmann::json::array();
    for (const auto& f : refinements) {
      nlohmann::json moves = nlohmann::json::array();
      for (const auto& m : f.moves)
        moves.push_back({{"fewer", m.fewer},
                         {"fewer_reuses", m.fewer_reuses},
                         {"more", m.more},
                         {"more_reuses", m.more_reuses},
                         {"loss", m.loss}});
      rs.push_back({{"from", f.from},
                    {"name", f.name.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.name)},
                    {"start_loss", f.start_loss},
                    {"loss", f.loss},
                    {"evaluations", f.evaluations},
                    {"moves", moves}});
    }
    doc["refinements"] = rs;
  }
  doc["model"] = o.model;
  doc["temporal"] = o.temporal;
  doc["profile"] = o.profile;
  write_json_atomic(out / "cache_search.json", doc);
  CacheSearchOutput result{o.model, r, base, {}, refinements, computed, kept};
  for (const auto& c : r.candidates) result.plans.push_back(out / (c.name + ".plan.json"));
  for (const auto& c : base) result.plans.push_back(out / (c.name + ".plan.json"));
  return result;
}

}  // namespace asdm
