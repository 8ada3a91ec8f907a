// asdm search: the removal sets that lose the least predicted quality under a latency budget
// (pruner/search.h), as candidates.json and a table; --measure times every candidate against the
// teacher in interleaved forwards.
#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "analysis/ablation.h"
#include "analysis/importance_io.h"
#include "analysis/subject.h"
#include "apps/asdm/commands.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/log.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "model/runtime.h"
#include "model/unet.h"
#include "profiler/cost_model.h"
#include "profiler/profile.h"
#include "profiler/replacement_cost.h"
#include "pruner/latency_model.h"
#include "pruner/refine.h"
#include "pruner/replacements.h"
#include "pruner/search.h"

namespace asdm::cli {
namespace {

struct SearchCli {
  std::string profile, importance, model, output, metric = "tier1";
  bool allow_no_cross_attention = false, measure = false;
  int validate = 0;
  int runs = 10, warmup = 2, threads = 0;
  std::vector<std::string> allow;  // replacement blocks: "clme", "gri"
  int gri_window = 8, gri_pool = 2, gri_min_tokens = 1024;
  std::string refine_prompts, refine_embeddings;
  int refine_evals = 40;
  SearchOptions search;
};

// The importance run's tier-1 settings (sampler, timesteps, seed, batch), for scores that must be
// on its scale: grouped removal sets (refinement) and GRI variants.
AblationOptions importance_settings(const nlohmann::json& settings) {
  AblationOptions ao;
  ao.timesteps = settings.at("timesteps");
  ao.sampler.sampler = settings.at("/sampler/name"_json_pointer);
  ao.sampler.steps = settings.at("/sampler/steps"_json_pointer);
  ao.sampler.guidance = settings.at("/sampler/guidance"_json_pointer);
  ao.seed = settings.at("seed");
  ao.batch = settings.at("batch");
  return ao;
}

// The teacher on the scoring prompts (--refine-prompts / --refine-embeddings) and one teacher pass.
struct Scoring {
  std::unique_ptr<AblationSubject> subject;
  std::unique_ptr<GroupScorer> scorer;
};

Scoring make_scoring(const SearchCli& o) {
  Scoring sc;
  sc.subject = std::make_unique<AblationSubject>(o.refine_prompts.empty()          ? load_embeddings_subject(o.model, o.refine_embeddings)
                                                 : is_sd_pipeline_path(o.model) ? load_sd_subject(o.model, o.refine_prompts)
                                                                                : load_proxy_subject(o.model, o.refine_prompts));
  const nlohmann::json settings = read_json_file(o.importance).at("settings");
  if (sc.subject->prompts_sha256() != settings.at("/prompts/sha256"_json_pointer))
    log::warn("the scoring prompts are not the importance run's ({} prompts here, {} there)", sc.subject->num_prompts(),
              settings.at("/prompts/count"_json_pointer).dump());
  log::info("scoring: teacher pass over {} prompts", sc.subject->num_prompts());
  sc.scorer = std::make_unique<GroupScorer>(*sc.subject, importance_settings(settings));
  return sc;
}

// Re-scores the first candidate's removal set as a group (tier 1, the importance run's settings)
// and swaps units while that helps; an improved set goes first in the candidates. The first
// candidate's GRI units stay GRI (and are not swapped out).
nlohmann::json refine_first(const SearchCli& o, const Scoring& sc, const UNetLayout& layout, const LatencyModel& latency,
                            const ImportanceScores& importance, SearchOptions so, SearchResult& r) {
  log::info("refinement: up to {} grouped scores", o.refine_evals);
  const GroupScorer& scorer = *sc.scorer;
  const Candidate& first = r.candidates.at(0);
  std::vector<Edit> gri;
  for (const auto& id : first.gri) gri.push_back(Edit::gri(id, o.gri_window, o.gri_pool));
  const AblationSubject model = gri.empty() ? *sc.subject : sc.subject->with_edits(gri);
  so.keep.insert(so.keep.end(), first.gri.begin(), first.gri.end());
  double gri_saved = 0, gri_loss = 0;
  for (const auto& id : first.gri) {
    gri_saved += so.gri.at(id).saved_ms;
    gri_loss += so.gri.at(id).loss;
  }
  RefineOptions ro;
  ro.max_evaluations = o.refine_evals;
  int done = 0;
  const RefineResult rr = refine(
      layout, latency, importance.units, so, first.removed, (1 - so.target_speedup) * latency.teacher_ms() + gri_saved,
      [&](const std::vector<std::string>& set) {
        const double l = scorer.score(model, set);
        log::info("refinement: grouped score {}/{}: {:.4g} ({} units)", ++done, o.refine_evals, l, set.size());
        return l;
      },
      ro);
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : rr.steps) steps.push_back({{"put_back", s.out}, {"removed", s.in}, {"grouped_loss", s.loss}});
  nlohmann::json j = {{"metric", "tier-1 nMSE of the units bypassed together"},
                      {"start_grouped_loss", rr.start_loss},
                      {"grouped_loss", rr.loss},
                      {"evaluations", rr.evaluations},
                      {"start", first.removed},
                      {"removed", rr.removed},
                      {"swaps", steps}};
  std::printf("refinement: grouped loss %.4g -> %.4g after %d grouped scores, %zu swap(s)\n", rr.start_loss, rr.loss,
              rr.evaluations, rr.steps.size());
  if (!rr.steps.empty()) {
    Candidate c;
    c.removed = rr.removed;
    c.gri = first.gri;
    c.predicted_ms = latency.predict_ms(c.removed) - gri_saved;
    c.predicted_speedup = 1 - c.predicted_ms / latency.teacher_ms();
    c.predicted_loss = gri_loss;
    for (const auto& id : c.removed) c.predicted_loss += importance.units.at(id);
    r.candidates.insert(r.candidates.begin(), c);
  }
  return j;
}

void run_search(SearchCli o, const std::vector<std::string>& argv) {
  const ProfileLatency profile = read_profile_latency(o.profile);
  const ImportanceScores importance = read_importance_scores(o.importance, o.metric);
  if (o.model.empty()) o.model = profile.model;
  if (o.model.empty()) fail("{} does not name its model; pass --model", o.profile);
  const ArchSpec teacher = load_arch(locate_model(o.model));
  if (!teacher.edits.empty()) log::info("{} is itself a student ({} edits); searching on top of it", o.model, teacher.edits.size());
  const UNetLayout layout = teacher.student_layout();
  const LatencyModel latency(profile, layout);
  o.search.keep_cross_attention = !o.allow_no_cross_attention;
  const bool clme = std::find(o.allow.begin(), o.allow.end(), "clme") != o.allow.end();
  const bool gri = std::find(o.allow.begin(), o.allow.end(), "gri") != o.allow.end();
  SearchOptions so = o.search;
  set_threads(o.threads);
  const bool scoring = !o.refine_prompts.empty() || !o.refine_embeddings.empty();
  Scoring sc;
  if (scoring) sc = make_scoring(o);

  // Costs at the profiled input.
  ProfileOptions po;
  po.resolution = profile.resolution;
  po.batch = profile.batch;
  po.text_tokens = profile.text_tokens;
  po.runs = o.runs;
  po.warmup = o.warmup;
  CostInput ci;
  ci.height = ci.width = profile_latent_side(layout.config, po);
  ci.batch = po.batch;
  ci.text_tokens = po.text_tokens;
  std::vector<ArchSpec> specs;
  std::vector<double> extra_ms;  // replacement blocks' measured cost per candidate
  std::map<std::string, ReplacementCost> timed;  // by unit and experts / GRI options
  // A replacement edit's measured cost on top of a removal set, timed once per key.
  auto cost_of = [&](const ArchSpec& removal, const Edit& e, const std::string& key) -> const ReplacementCost& {
    if (!timed.count(key)) {
      ArchSpec one = removal;
      one.edits.push_back(e);
      timed[key] = time_replacements(one, ci).at(0);
    }
    return timed.at(key);
  };
  // GRI with a scorer: a third choice per attention unit in the search, where it measures faster
  // than full self-attention, at its measured saving and its tier-1 score (the teacher with that
  // unit's self-attention as GRI, on the importance run's prompts, sampler and states). Without
  // one, GRI is placed by latency alone after the search.
  const bool gri_scored = gri && scoring && o.metric == "tier1";
  if (gri && scoring && !gri_scored) log::warn("GRI's quality is scored in tier 1; with --metric {} it is placed by latency only", o.metric);
  if (gri && !scoring)
    log::warn("GRI is placed by latency only: its effect on quality is scored when --refine-prompts or --refine-embeddings is given");
  nlohmann::json gri_scores = nlohmann::json::array();
  if (gri_scored) {
    for (const auto& e : gri_edits(teacher, ci, o.gri_window, o.gri_pool, o.gri_min_tokens)) {
      const ReplacementCost& cost = cost_of(teacher, e, fmt::format("{}<gri {} {}", e.unit, e.window, e.pool));
      const double loss = sc.scorer->score(sc.subject->with_edits({e}));
      const bool faster = cost.extra_ms() < 0;
      if (faster) so.gri[e.unit] = {-cost.extra_ms(), loss};
      gri_scores.push_back({{"unit", e.unit}, {"window", e.window}, {"pool", e.pool}, {"saved_ms", -cost.extra_ms()},
                            {"score", loss}, {"searched", faster}});
      log::info("GRI in {}: saves {:.2f} ms, tier-1 score {:.3g} (removing the unit: {:.3g}){}", e.unit, -cost.extra_ms(), loss,
                importance.units.count(e.unit) ? importance.units.at(e.unit) : std::nan(""), faster ? "" : "; slower, not searched");
    }
  }
  // Replacement blocks change the time the removal-only front predicts: search further along the
  // front and keep the candidates that meet the target with their measured costs added.
  if (clme || (gri && !gri_scored)) so.max_candidates += 8;
  SearchResult r = search(layout, latency, importance.units, so);
  nlohmann::json refinement = nullptr;
  if (scoring) refinement = refine_first(o, sc, layout, latency, importance, so, r);

  std::vector<Candidate> kept;
  for (const auto& c : r.candidates) {
    ArchSpec s = teacher;
    for (const auto& id : c.removed) s.edits.push_back(Edit::remove(id));
    double extra = 0;
    const ArchSpec removal = s;
    if (clme) {
      const auto edits = clme_edits(s);
      s.edits.insert(s.edits.end(), edits.begin(), edits.end());
      for (const auto& e : edits) extra += cost_of(removal, e, e.unit + "<" + fmt::format("{}", fmt::join(e.experts, ","))).extra_ms();
    }
    for (const auto& id : c.gri) s.edits.push_back(Edit::gri(id, o.gri_window, o.gri_pool));  // in predicted_ms already
    if (gri && !gri_scored) {
      // GRI where it measures faster than full self-attention at the profiled input.
      for (const auto& e : gri_edits(removal, ci, o.gri_window, o.gri_pool, o.gri_min_tokens)) {
        const double d = cost_of(removal, e, fmt::format("{}<gri {} {}", e.unit, e.window, e.pool)).extra_ms();
        if (d >= 0) continue;
        s.edits.push_back(e);
        extra += d;
      }
    }
    if (clme || gri) {
      Candidate adjusted = c;
      adjusted.predicted_ms += extra;
      adjusted.predicted_speedup = 1 - adjusted.predicted_ms / latency.teacher_ms();
      if (adjusted.predicted_speedup < o.search.target_speedup || kept.size() >= size_t(o.search.max_candidates))
        continue;
      kept.push_back(adjusted);
    } else {
      kept.push_back(c);
    }
    specs.push_back(s);
    extra_ms.push_back(extra);
  }
  if ((clme || gri) && kept.empty())
    fail("with the replacement blocks' measured cost no candidate up to speedup {:.3f} meets the target {:.3f}; lower "
         "--target-speedup or search without --allow",
         r.candidates.empty() ? 0.0 : r.candidates.back().predicted_speedup, o.search.target_speedup);
  r.candidates = kept;
  // Measured latency: the teacher and every candidate, interleaved (random weights: latency does
  // not depend on their values).
  // --validate: random removal sets (each unit removed with a probability drawn per set from
  // [0.1, 0.6]) measured with the candidates, to check the predictor's additivity.
  std::vector<std::vector<std::string>> random_sets;
  std::mt19937_64 rng(20261127);
  for (int k = 0; k < o.validate; ++k) {
    const double p = std::uniform_real_distribution<double>(0.1, 0.6)(rng);
    std::vector<std::string> set;
    for (const auto& id : layout.ids(true))
      if (layout.at(id).parent.empty() && std::uniform_real_distribution<double>(0, 1)(rng) < p) set.push_back(id);
    random_sets.push_back(set);
  }
  std::vector<Summary> measured;
  if (o.measure || o.validate > 0) {
    std::vector<std::unique_ptr<UNet>> unets;
    unets.push_back(std::make_unique<UNet>(teacher));
    for (const auto& s : specs) unets.push_back(std::make_unique<UNet>(s));
    for (const auto& set : random_sets) {
      ArchSpec s = teacher;
      for (const auto& id : set) s.edits.push_back(Edit::remove(id));
      unets.push_back(std::make_unique<UNet>(s));
    }
    std::vector<const UNet*> ptrs;
    for (const auto& u : unets) ptrs.push_back(u.get());
    const bool show = log::level() <= log::Level::kInfo && ::isatty(2);
    log::info("measuring the teacher, {} candidates and {} random removal sets: {} + {} interleaved rounds", specs.size(),
              random_sets.size(), po.warmup, po.runs);
    measured = time_forwards_interleaved(ptrs, po, [show](int done, int total) {
      if (!show) return;
      std::fprintf(stderr, "\rmeasuring: forward %d/%d", done, total);
      if (done == total) std::fprintf(stderr, "\n");
    });
  }

  nlohmann::json j = make_artifact("candidates", 1, make_run_context(argv, "cpu"));
  j["teacher"] = {{"model", o.model},
                  {"profile", o.profile},
                  {"profile_backend", profile.backend},
                  {"profile_device", profile.device},
                  {"forward_ms", profile.forward_ms},
                  {"input", {{"resolution", ci.height * po.vae_scale}, {"batch", ci.batch}, {"text_tokens", ci.text_tokens}}}};
  j["importance"] = {{"file", o.importance}, {"metric", o.metric}, {"subject", importance.subject}};
  j["options"] = {{"target_speedup", o.search.target_speedup},
                  {"max_candidates", o.search.max_candidates},
                  {"candidate_step", o.search.candidate_step},
                  {"keep", o.search.keep},
                  {"remove", o.search.remove},
                  {"keep_cross_attention", o.search.keep_cross_attention},
                  {"latency_bins", o.search.bins}};
  j["predictor"] = std::string("teacher forward median minus the removed units' median inclusive times (profile.json)") +
                   (clme || gri ? " plus each replacement block's measured time difference (CLME-CondConv against the "
                                  "convolutions it replaces, GRI against full self-attention; GRI placed only where faster)"
                                : "");
  if (clme || gri) {
    nlohmann::json rc = nlohmann::json::array();
    for (const auto& [key, c] : timed)
      rc.push_back({{"unit", c.unit}, {"kind", c.kind}, {c.kind == "clme" ? "experts" : "options", key.substr(key.find('<') + 1)},
                    {"plain_ms", to_json(c.plain_ms)}, {"replaced_ms", to_json(c.replaced_ms)}, {"extra_ms", c.extra_ms()}});
    j["replacement_costs"] = rc;
  }
  j["predicted_loss"] = "sum of the removed units' importance scores (" + o.metric + ")" +
                        std::string(gri_scored ? " and of the GRI units' scores (tier-1 nMSE of the teacher with that unit's "
                                                 "self-attention as GRI, the importance run's settings)"
                                               : "");
  if (gri_scored) j["gri_scores"] = gri_scores;
  j["searched_units"] = r.searched_units;
  j["best_reachable_speedup"] = r.best_reachable_speedup;
  j["replacements"] = o.allow;
  const CostReport tc = estimate_cost(teacher, ci);
  j["teacher"]["params"] = tc.params;
  j["teacher"]["macs"] = tc.macs;
  if (o.measure) j["teacher"]["measured_ms"] = to_json(measured[0]);
  nlohmann::json cands = nlohmann::json::array(), front = nlohmann::json::array();
  std::printf("%-4s %8s %8s %9s %9s %9s %10s %8s %9s  %s\n", "", "pred ms", "speedup", "meas ms", "speedup", "error",
              "pred loss", "params", "GMACs", "removed units");
  for (size_t k = 0; k < r.candidates.size(); ++k) {
    const Candidate& c = r.candidates[k];
    const CostReport cost = estimate_cost(specs[k], ci);
    nlohmann::json cj = {{"name", fmt::format("c{}", k + 1)},
                         {"removed", c.removed},
                         {"gri", c.gri},
                         {"predicted_ms", c.predicted_ms},
                         {"predicted_speedup", c.predicted_speedup},
                         {"predicted_loss", c.predicted_loss},
                         {"replacement_ms", extra_ms[k]},
                         {"refined", !refinement.is_null() && !refinement.at("swaps").empty() &&
                                         refinement.at("removed") == c.removed},
                         {"params", cost.params},
                         {"macs", cost.macs},
                         {"arch", to_json(specs[k])}};
    std::string meas = "-", mspeed = "-", err = "-";
    if (o.measure) {
      const double m = measured[k + 1].median, t = measured[0].median;
      cj["measured_ms"] = to_json(measured[k + 1]);
      cj["measured_speedup"] = 1 - m / t;
      // The predictor is relative to the profile's teacher time; scaled to this run's teacher.
      const double pred = c.predicted_ms / profile.forward_ms * t;
      cj["prediction_error"] = pred / m - 1;
      meas = fmt::format("{:.2f}", m);
      mspeed = fmt::format("{:.3f}", 1 - m / t);
      err = fmt::format("{:+.1f}%", 100 * (pred / m - 1));
    }
    cands.push_back(cj);
    std::printf("c%-3zu %8.2f %8.3f %9s %9s %9s %10.4g %7.1fM %9.2f  %s\n", k + 1, c.predicted_ms, c.predicted_speedup,
                meas.c_str(), mspeed.c_str(), err.c_str(), c.predicted_loss, cost.params / 1e6, cost.macs / 1e9,
                (join_limited(c.removed, 4) + (c.gri.empty() ? "" : fmt::format("; GRI in {}", join_limited(c.gri, 3)))).c_str());
  }
  for (const auto& p : r.front) front.push_back({{"speedup", p.speedup}, {"loss", p.loss}});
  j["candidates"] = cands;
  if (o.validate > 0) {
    // The predictor against random removal sets (removal only), scaled to this run's teacher time.
    nlohmann::json sets = nlohmann::json::array();
    double sum_abs = 0, max_abs = 0;
    const double t = measured[0].median;
    for (size_t k = 0; k < random_sets.size(); ++k) {
      const double m = measured[1 + specs.size() + k].median;
      const double pred = latency.predict_ms(random_sets[k]) / profile.forward_ms * t;
      const double err = pred / m - 1;
      sum_abs += std::abs(err);
      max_abs = std::max(max_abs, std::abs(err));
      sets.push_back({{"removed", random_sets[k]}, {"predicted_ms", pred}, {"measured_ms", to_json(measured[1 + specs.size() + k])},
                      {"error", err}});
    }
    const double mean_abs = sum_abs / random_sets.size();
    j["validation"] = {{"sets", sets}, {"mean_abs_error", mean_abs}, {"max_abs_error", max_abs}};
    std::printf("predictor on %zu random removal sets: mean |error| %.1f%%, max %.1f%%%s\n", random_sets.size(),
                100 * mean_abs, 100 * max_abs,
                max_abs > 0.05 ? " (above 5%: the units' times do not add up on this machine; a per-stage "
                                 "interaction correction is not built)"
                               : " (additive within 5%)");
  }
  if (!refinement.is_null()) j["refinement"] = refinement;
  j["front"] = front;
  write_json_atomic(o.output, j);
  std::printf("teacher: %.2f ms (profile)%s; %d units searched; best reachable speedup %.3f\n", profile.forward_ms,
              o.measure ? fmt::format(", {:.2f} ms measured with the candidates", measured[0].median).c_str() : "",
              r.searched_units, r.best_reachable_speedup);
  log::info("wrote {}", o.output);
}

}  // namespace

void add_search(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<SearchCli>();
  auto* sub = app.add_subcommand(
      "search",
      "Find the units to remove that lose the least predicted quality under a latency budget: predicted\n"
      "UNet latency <= (1 - target) x the teacher's. Latency is predicted from profile.json (teacher time\n"
      "minus the removed units' inclusive times), quality loss as the sum of the removed units' importance\n"
      "scores (importance.json). The search is exact for these additive scores (a knapsack by dynamic\n"
      "programming over latency saved); every block with cross-attention keeps at least one attention unit\n"
      "unless --allow-no-cross-attention. Writes candidates along the Pareto front, from the target up in\n"
      "steps of --step, each with its ArchSpec, params and MACs; --measure times them all against the\n"
      "teacher in interleaved forwards on this machine and reports the predictor's error. --refine-prompts\n"
      "(or --refine-embeddings) re-scores the first candidate as a group and, with --allow gri, scores GRI.");
  sub->add_option("--profile", o->profile, "profile.json of the teacher (asdm profile, single forwards)")->required();
  sub->add_option("--importance", o->importance, "importance.json of the teacher (asdm ablate)")->required();
  sub->add_option("--model", o->model, "The teacher (default: the model profile.json names)");
  sub->add_option("--metric", o->metric, "Importance score: tier1 (nMSE) or tier2 (1 - SSIM)")
      ->capture_default_str()
      ->check(CLI::IsMember({"tier1", "tier2"}));
  sub->add_option("--target-speedup", o->search.target_speedup, "Fraction of UNet latency to remove (A-SDM: 0.22)")
      ->capture_default_str();
  sub->add_option("--max-candidates", o->search.max_candidates, "Candidates to emit")->capture_default_str()->check(
      CLI::PositiveNumber);
  sub->add_option("--step", o->search.candidate_step, "Speedup between successive candidates")->capture_default_str();
  sub->add_option("--keep", o->search.keep, "Units never removed (comma-separated)")->delimiter(',');
  sub->add_option("--remove", o->search.remove, "Units always removed (comma-separated)")->delimiter(',');
  sub->add_option("--allow", o->allow,
                  "Replacement blocks in the candidates (comma-separated): clme (every removed ResBlock's kernels\n"
                  "become CLME-CondConv experts of its nearest surviving sibling), gri (GRI self-attention in the\n"
                  "attention units of maps of at least --gri-min-tokens tokens, where it measures faster). Each is\n"
                  "timed against what it replaces and the difference added to the prediction. CLME starts out\n"
                  "exact (no quality cost); GRI does not: with --refine-prompts/--refine-embeddings each GRI unit is\n"
                  "scored in tier 1 and becomes a third choice beside keeping and removing the unit in the search;\n"
                  "without them GRI is placed wherever it is faster, its quality cost unscored")
      ->delimiter(',')
      ->check(CLI::IsMember({"clme", "gri"}));
  sub->add_option("--gri-window", o->gri_window, "--allow gri: window side in tokens")->capture_default_str();
  sub->add_option("--gri-pool", o->gri_pool, "--allow gri: pooled global tokens, pool x pool each (0: none)")
      ->capture_default_str();
  sub->add_option("--gri-min-tokens", o->gri_min_tokens, "--allow gri: smallest map (tokens) considered")
      ->capture_default_str();
  sub->add_option("--refine-prompts", o->refine_prompts,
                  "Refine the first candidate: re-score its removal set as a group (tier 1, the importance run's\n"
                  "settings) on these prompts (a proxy pipeline's prompt file) and swap units while that helps;\n"
                  "with --allow gri, also score each GRI unit on them (a third choice in the search)")
      ->check(CLI::ExistingFile);
  sub->add_option("--refine-embeddings", o->refine_embeddings,
                  "As --refine-prompts for any UNet: a safetensors of text embeddings (see asdm ablate --help)")
      ->check(CLI::ExistingFile)
      ->excludes("--refine-prompts");
  sub->add_option("--refine-evals", o->refine_evals, "Most grouped scores the refinement computes")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_flag("--allow-no-cross-attention", o->allow_no_cross_attention,
                "Let a block lose all its attention units");
  sub->add_flag("--measure", o->measure, "Time the teacher and every candidate (CPU, random weights, interleaved)");
  sub->add_option("--validate", o->validate,
                  "Also time N random removal sets with the candidates and report the predictor's error on them")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--runs", o->runs, "--measure: timed rounds")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--warmup", o->warmup, "--measure: warm-up rounds")->capture_default_str()->check(CLI::NonNegativeNumber);
  sub->add_option("--threads", o->threads, "--measure: intra-op CPU threads (0: libtorch's default)")->capture_default_str();
  sub->add_option("-o,--output", o->output, "candidates.json to write")->required();
  sub->callback([o, argv] { run_search(*o, argv); });
}

}  // namespace asdm::cli
