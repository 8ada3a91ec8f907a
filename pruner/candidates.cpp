#include "pruner/candidates.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace asdm {

using json = nlohmann::json;

namespace {

template <typename T>
std::optional<T> optional_at(const json& j, const char* key, T (*read)(const json&)) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return read(j.at(key));
}

json as_json(const CandidateEntry& c) {
  json j = {{"name", c.name},
            {"removed", c.removed},
            {"gri", c.gri},
            {"predicted_ms", c.predicted_ms},
            {"predicted_speedup", c.predicted_speedup},
            {"predicted_loss", c.predicted_loss},
            {"replacement_ms", c.replacement_ms},
            {"refined", c.refined},
            {"params", c.params},
            {"macs", c.macs},
            {"arch", asdm::to_json(c.arch)}};
  if (c.measured_ms) j["measured_ms"] = asdm::to_json(*c.measured_ms);
  if (c.measured_speedup) j["measured_speedup"] = *c.measured_speedup;
  if (c.prediction_error) j["prediction_error"] = *c.prediction_error;
  return j;
}

CandidateEntry candidate_from_json(const json& j) {
  CandidateEntry c;
  c.name = j.at("name").get<std::string>();
  c.removed = j.at("removed").get<std::vector<std::string>>();
  c.gri = j.value("gri", std::vector<std::string>());
  c.predicted_ms = j.at("predicted_ms").get<double>();
  c.predicted_speedup = j.at("predicted_speedup").get<double>();
  c.predicted_loss = j.at("predicted_loss").get<double>();
  c.replacement_ms = j.value("replacement_ms", 0.0);
  c.refined = j.value("refined", false);
  c.params = j.at("params").get<int64_t>();
  c.macs = j.at("macs").get<int64_t>();
  c.arch = arch_spec_from_json(j.at("arch"));
  c.measured_ms = optional_at<Summary>(j, "measured_ms", summary_from_json);
  if (j.contains("measured_speedup")) c.measured_speedup = j.at("measured_speedup").get<double>();
  if (j.contains("prediction_error")) c.prediction_error = j.at("prediction_error").get<double>();
  return c;
}

json as_json(const ReplacementCostEntry& r) {
  return {{"unit", r.unit},
          {"kind", r.kind},
          {r.key_name, r.key},
          {"plain_ms", asdm::to_json(r.plain_ms)},
          {"replaced_ms", asdm::to_json(r.replaced_ms)},
          {"extra_ms", r.extra_ms}};
}

ReplacementCostEntry replacement_cost_from_json(const json& j) {
  ReplacementCostEntry r;
  r.unit = j.at("unit").get<std::string>();
  r.kind = j.at("kind").get<std::string>();
  r.key_name = r.kind == "clme" ? "experts" : "options";
  r.key = j.at(r.key_name).get<std::string>();
  r.plain_ms = summary_from_json(j.at("plain_ms"));
  r.replaced_ms = summary_from_json(j.at("replaced_ms"));
  r.extra_ms = j.at("extra_ms").get<double>();
  return r;
}

json as_json(const GriScoreEntry& g) {
  return {{"unit", g.unit},         {"window", g.window}, {"pool", g.pool},
          {"saved_ms", g.saved_ms}, {"score", g.score},   {"searched", g.searched}};
}

GriScoreEntry gri_score_from_json(const json& j) {
  return {j.at("unit").get<std::string>(), j.at("window").get<int>(),
          j.at("pool").get<int>(),         j.at("saved_ms").get<double>(),
          j.at("score").get<double>(),     j.at("searched").get<bool>()};
}

json as_json(const Refinement& r) {
  json swaps = json::array();
  for (const auto& s : r.swaps)
    swaps.push_back(
        {{"put_back", s.put_back}, {"removed", s.removed}, {"grouped_loss", s.grouped_loss}});
  return {{"metric", r.metric},
          {"start_grouped_loss", r.start_grouped_loss},
          {"grouped_loss", r.grouped_loss},
          {"evaluations", r.evaluations},
          {"start", r.start},
          {"removed", r.removed},
          {"swaps", swaps}};
}

Refinement refinement_from_json(const json& j) {
  Refinement r;
  r.metric = j.at("metric").get<std::string>();
  r.start_grouped_loss = j.at("start_grouped_loss").get<double>();
  r.grouped_loss = j.at("grouped_loss").get<double>();
  r.evaluations = j.at("evaluations").get<int>();
  r.start = j.at("start").get<std::vector<std::string>>();
  r.removed = j.at("removed").get<std::vector<std::string>>();
  for (const auto& s : j.at("swaps"))
    r.swaps.push_back({s.at("put_back").get<std::string>(), s.at("removed").get<std::string>(),
                       s.at("grouped_loss").get<double>()});
  return r;
}

json as_json(const Validation& v) {
  json sets = json::array();
  for (const auto& s : v.sets)
    sets.push_back({{"removed", s.removed},
                    {"predicted_ms", s.predicted_ms},
                    {"measured_ms", asdm::to_json(s.measured_ms)},
                    {"error", s.error}});
  return {{"sets", sets}, {"mean_abs_error", v.mean_abs_error}, {"max_abs_error", v.max_abs_error}};
}

Validation validation_from_json(const json& j) {
  Validation v;
  for (const auto& s : j.at("sets"))
    v.sets.push_back({s.at("removed").get<std::vector<std::string>>(),
                      s.at("predicted_ms").get<double>(), summary_from_json(s.at("measured_ms")),
                      s.at("error").get<double>()});
  v.mean_abs_error = j.at("mean_abs_error").get<double>();
  v.max_abs_error = j.at("max_abs_error").get<double>();
  return v;
}

template <typename T, typename F>
std::vector<T> list_from_json(const json& j, F read) {
  std::vector<T> out;
  for (const auto& e : j) out.push_back(read(e));
  return out;
}

template <typename T>
json list_to_json(const std::vector<T>& items) {
  json out = json::array();
  for (const auto& e : items) out.push_back(as_json(e));
  return out;
}

}  // namespace

json CandidateSet::to_json() const {
  json j = header.to_json();
  json t = {{"model", teacher.model},
            {"profile", teacher.profile},
            {"profile_backend", teacher.profile_backend},
            {"profile_device", teacher.profile_device},
            {"forward_ms", teacher.forward_ms},
            {"input", asdm::to_json(teacher.input)},
            {"params", teacher.params},
            {"macs", teacher.macs}};
  if (teacher.measured_ms) t["measured_ms"] = asdm::to_json(*teacher.measured_ms);
  j["teacher"] = t;
  j["importance"] = {
      {"file", importance.file}, {"metric", importance.metric}, {"subject", importance.subject}};
  j["options"] = {{"target_speedup", options.target_speedup},
                  {"max_candidates", options.max_candidates},
                  {"candidate_step", options.candidate_step},
                  {"keep", options.keep},
                  {"remove", options.remove},
                  {"keep_cross_attention", options.keep_cross_attention},
                  {"latency_bins", options.latency_bins}};
  j["predictor"] = predictor;
  j["predicted_loss"] = predicted_loss;
  j["replacements"] = replacements;
  if (replacement_costs) j["replacement_costs"] = list_to_json(*replacement_costs);
  if (gri_scores) j["gri_scores"] = list_to_json(*gri_scores);
  j["searched_units"] = searched_units;
  j["best_reachable_speedup"] = best_reachable_speedup;
  j["candidates"] = list_to_json(candidates);
  json f = json::array();
  for (const auto& [speedup, loss] : front) f.push_back({{"speedup", speedup}, {"loss", loss}});
  j["front"] = f;
  if (validation) j["validation"] = as_json(*validation);
  if (refinement) j["refinement"] = as_json(*refinement);
  return j;
}

CandidateSet CandidateSet::from_json(const json& j, const std::string& source) {
  CandidateSet s;
  s.header = ArtifactHeader::from_json(j, kArtifact, kSchemaVersion, source, kMadeBy);
  parse_artifact_fields(kArtifact, source, [&] {
    const json& t = j.at("teacher");
    s.teacher.model = t.at("model").get<std::string>();
    s.teacher.profile = t.value("profile", std::string());
    s.teacher.profile_backend = t.value("profile_backend", std::string());
    s.teacher.profile_device = t.value("profile_device", std::string());
    s.teacher.forward_ms = t.at("forward_ms").get<double>();
    s.teacher.input = input_shape_from_json(t.at("input"));
    s.teacher.params = t.value("params", int64_t{0});
    s.teacher.macs = t.value("macs", int64_t{0});
    s.teacher.measured_ms = optional_at<Summary>(t, "measured_ms", summary_from_json);
    const json& imp = j.at("importance");
    s.importance = {imp.at("file").get<std::string>(), imp.at("metric").get<std::string>(),
                    imp.value("subject", std::string())};
    const json& o = j.at("options");
    s.options.target_speedup = o.at("target_speedup").get<double>();
    s.options.max_candidates = o.at("max_candidates").get<int>();
    s.options.candidate_step = o.at("candidate_step").get<double>();
    s.options.keep = o.value("keep", std::vector<std::string>());
    s.options.remove = o.value("remove", std::vector<std::string>());
    s.options.keep_cross_attention = o.value("keep_cross_attention", true);
    s.options.latency_bins = o.value("latency_bins", 0);
    s.predictor = j.value("predictor", std::string());
    s.predicted_loss = j.value("predicted_loss", std::string());
    s.replacements = j.value("replacements", std::vector<std::string>());
    if (j.contains("replacement_costs"))
      s.replacement_costs = list_from_json<ReplacementCostEntry>(j.at("replacement_costs"),
                                                                 replacement_cost_from_json);
    if (j.contains("gri_scores"))
      s.gri_scores = list_from_json<GriScoreEntry>(j.at("gri_scores"), gri_score_from_json);
    s.searched_units = j.at("searched_units").get<int>();
    s.best_reachable_speedup = j.at("best_reachable_speedup").get<double>();
    s.candidates = list_from_json<CandidateEntry>(j.at("candidates"), candidate_from_json);
    for (const auto& p : j.at("front"))
      s.front.emplace_back(p.at("speedup").get<double>(), p.at("loss").get<double>());
    if (j.contains("validation")) s.validation = validation_from_json(j.at("validation"));
    if (j.contains("refinement") && !j.at("refinement").is_null())
      s.refinement = refinement_from_json(j.at("refinement"));
  });
  return s;
}

CandidateSet CandidateSet::read(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void CandidateSet::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

const CandidateEntry& CandidateSet::pick(const std::string& pick, const std::string& source) const {
  std::vector<std::string> names;
  for (size_t k = 0; k < candidates.size(); ++k) {
    if (pick == candidates[k].name || pick == std::to_string(k + 1)) return candidates[k];
    names.push_back(candidates[k].name);
  }
  fail("{} has no candidate '{}' (known: {})", source, pick, join_limited(names, 10));
}

const CandidateEntry& pick_measured(const CandidateSet& set, double target, double margin,
                                    std::string* warning) {
  if (set.candidates.empty()) fail("the candidates.json has no candidates");
  const CandidateEntry *best = nullptr, *fastest = nullptr;
  double fastest_speedup = target;
  for (const auto& c : set.candidates) {
    const double measured = c.measured_speedup.value_or(0.0);
    if (measured >= target + margin && (!best || c.predicted_loss < best->predicted_loss))
      best = &c;
    if (measured >= fastest_speedup) {
      fastest = &c;
      fastest_speedup = measured;
    }
  }
  if (!best) best = fastest;
  if (best) return *best;
  const CandidateEntry& first = set.candidates.front();
  if (warning)
    *warning = fmt::format(
        "no candidate measured at least {:.0f}% faster on this machine; building {} (predicted "
        "{:.1f}%)",
        100 * target, first.name, 100 * first.predicted_speedup);
  return first;
}

}  // namespace asdm
