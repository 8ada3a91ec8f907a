#include "pruner/cache_search.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/importance_io.h"
#include "analysis/temporal_record.h"
#include "core/error.h"
#include "model/model_files.h"
#include "profiler/profile_io.h"
#include "pruner/latency_model.h"

namespace asdm {
namespace {

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
  // What a skip call does not run: every top-level unit at those levels, and the downsampler into
  // them.
  double skipped_ms = 0;
  for (const auto& u : layout.units)
    if (u.parent.empty() && profile.units.count(u.id) &&
        (u.level >= o.baseline_level ||
         (u.kind == UnitKind::kDownsample && u.level + 1 >= o.baseline_level)) &&
        u.kind != UnitKind::kFixed)
      skipped_ms += profile.units.at(u.id).inclusive_ms;
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
    Baseline b{{}, CachePlan::uniform_skip(spec, o.baseline_level, k, C)};
    b.predicted.name = fmt::format("deepcache-skip-l{}-k{}", o.baseline_level, k);
    b.predicted.reuse.assign(C, {});
    const int skips = b.plan.reusing_calls();
    b.predicted.predicted_ms = C * latency.teacher_ms() - skips * skipped_ms;
    b.predicted.predicted_speedup = 1 - b.predicted.predicted_ms / (C * latency.teacher_ms());
    b.predicted.reuse_loss = std::nan("");
    out.push_back(b);
  }
  return out;
}

}  // namespace

CacheSearchOutput search_cache_plans(const CacheSearchOptions& options,
                                     const std::filesystem::path& out, const RunContext& context) {
  CacheSearchOptions o = options;
  const TemporalArtifact t = TemporalArtifact::read(o.temporal);
  const ProfileLatency profile = read_profile_latency(o.profile);
  if (o.model.empty()) o.model = profile.model;
  if (o.model.empty()) fail("--model is needed: {} does not name its model", o.profile);
  const ArchSpec spec = load_arch(locate_model(o.model));
  const UNetLayout layout = spec.student_layout();
  const LatencyModel latency(profile, layout);
  std::map<std::string, double> scores;
  if (!o.importance.empty()) {
    scores = read_importance_scores(o.importance, o.metric).units;
    o.search.removals = true;
  }
  const TemporalSearchResult r = temporal_search(layout, latency, t, scores, o.search);
  const std::vector<Baseline> base_plans = baselines(o, spec, latency, profile, t);
  std::vector<TemporalCandidate> base;
  for (const auto& b : base_plans) base.push_back(b.predicted);

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
  doc["model"] = o.model;
  doc["temporal"] = o.temporal;
  doc["profile"] = o.profile;
  write_json_atomic(out / "cache_search.json", doc);
  CacheSearchOutput result{o.model, r, base, {}};
  for (const auto& c : r.candidates) result.plans.push_back(out / (c.name + ".plan.json"));
  for (const auto& c : base) result.plans.push_back(out / (c.name + ".plan.json"));
  return result;
}

}  // namespace asdm
