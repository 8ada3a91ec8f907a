#include "analysis/importance.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/json_numbers.h"
#include "analysis/settings_json.h"
#include "core/error.h"

namespace asdm {

using json = nlohmann::json;

double number_of(const json& j) {
  return j.is_number() ? j.get<double>() : std::numeric_limits<double>::quiet_NaN();
}
json numbers_json(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(finite_or_null(x));
  return a;
}
std::vector<double> numbers_of(const json& j) {
  std::vector<double> v;
  for (const auto& x : j) v.push_back(number_of(x));
  return v;
}
json number_map_json(const std::map<std::string, double>& m) {
  json j = json::object();
  for (const auto& [k, v] : m) j[k] = finite_or_null(v);
  return j;
}
std::map<std::string, double> number_map_of(const json& j) {
  std::map<std::string, double> m;
  for (const auto& [k, v] : j.items()) m[k] = number_of(v);
  return m;
}

Estimate estimate_of(const json& j) {
  Estimate e;
  e.mean = number_of(j.at("mean"));
  e.ci_low = number_of(j.at("ci95").at(0));
  e.ci_high = number_of(j.at("ci95").at(1));
  e.n = j.at("n").get<int>();
  return e;
}

namespace {

json settings_json(const ImportanceSettings& s) {
  json j = run_settings_json(s);
  j["timesteps"] = s.timesteps;
  j["top"] = s.top;
  j["rank_from"] = s.rank_from;
  j["plan"] = s.plan;
  j["cache_plan"] = s.cache_plan;
  return j;
}

ImportanceSettings settings_of(const json& j) {
  ImportanceSettings s;
  read_run_settings(j, s);
  s.timesteps = j.at("timesteps").get<int>();
  s.top = j.at("top").get<int>();
  s.rank_from = j.at("rank_from").get<std::string>();
  s.cache_plan = j.value("cache_plan", std::string());  // files made before cache plans
  s.plan = j.at("plan").get<std::vector<std::string>>();
  return s;
}

json result_json(const ImportanceResult& r) {
  json j = {{"id", r.id}, {"units", r.units}, {"kind", r.kind}};
  if (r.latency_saved_ms) j["latency_saved_ms"] = finite_or_null(*r.latency_saved_ms);
  if (r.tier1) {
    json per_t = json::array();
    for (const auto& t : r.tier1->per_timestep)
      per_t.push_back({{"step", t.step},
                       {"t", t.t},
                       {"nmse", finite_or_null(t.nmse)},
                       {"cosine", finite_or_null(t.cosine)}});
    j["tier1"] = {{"nmse", asdm::to_json(r.tier1->nmse)},
                  {"cosine", asdm::to_json(r.tier1->cosine)},
                  {"per_timestep", per_t},
                  {"per_prompt",
                   {{"nmse", numbers_json(r.tier1->per_prompt_nmse)},
                    {"cosine", numbers_json(r.tier1->per_prompt_cosine)}}}};
  }
  if (r.tier2) {
    const Tier2Result& t = *r.tier2;
    json t2 = {{"ssim_loss", asdm::to_json(t.ssim_loss)},
               {"ssim", asdm::to_json(t.ssim)},
               {"psnr_db", asdm::to_json(t.psnr_db)},
               {"nmse", asdm::to_json(t.nmse)},
               {"per_prompt",
                {{"ssim", numbers_json(t.per_prompt_ssim)},
                 {"psnr_db", numbers_json(t.per_prompt_psnr_db)}}}};
    if (t.quality) t2["quality"] = number_map_json(*t.quality);
    if (t.quality_delta) t2["quality_delta"] = number_map_json(*t.quality_delta);
    j["tier2"] = t2;
  }
  if (r.tier1_per_ms) j["tier1_per_ms"] = finite_or_null(*r.tier1_per_ms);
  if (!r.seconds.empty()) j["seconds"] = r.seconds;
  if (!r.interaction.empty()) {
    json in = json::object();
    for (const auto& [k, v] : r.interaction)
      in[k] = {{"group", v.group},
               {"sum_of_units", v.sum_of_units},
               {"group_minus_sum", v.group_minus_sum}};
    j["interaction"] = in;
  }
  return j;
}

ImportanceResult result_of(const json& j) {
  ImportanceResult r;
  r.id = j.at("id").get<std::string>();
  r.units = j.at("units").get<std::vector<std::string>>();
  r.kind = j.at("kind").get<std::string>();
  if (j.contains("latency_saved_ms")) r.latency_saved_ms = number_of(j.at("latency_saved_ms"));
  if (j.contains("tier1")) {
    const json& t = j.at("tier1");
    Tier1Result t1;
    t1.nmse = estimate_of(t.at("nmse"));
    t1.cosine = estimate_of(t.at("cosine"));
    for (const auto& p : t.at("per_timestep"))
      t1.per_timestep.push_back({p.at("step").get<int>(), p.at("t").get<double>(),
                                 number_of(p.at("nmse")), number_of(p.at("cosine"))});
    t1.per_prompt_nmse = numbers_of(t.at("per_prompt").at("nmse"));
    t1.per_prompt_cosine = numbers_of(t.at("per_prompt").at("cosine"));
    r.tier1 = t1;
  }
  if (j.contains("tier2")) {
    const json& t = j.at("tier2");
    Tier2Result t2;
    t2.ssim_loss = estimate_of(t.at("ssim_loss"));
    t2.ssim = estimate_of(t.at("ssim"));
    t2.psnr_db = estimate_of(t.at("psnr_db"));
    t2.nmse = estimate_of(t.at("nmse"));
    t2.per_prompt_ssim = numbers_of(t.at("per_prompt").at("ssim"));
    t2.per_prompt_psnr_db = numbers_of(t.at("per_prompt").at("psnr_db"));
    if (t.contains("quality")) t2.quality = number_map_of(t.at("quality"));
    if (t.contains("quality_delta")) t2.quality_delta = number_map_of(t.at("quality_delta"));
    r.tier2 = t2;
  }
  if (j.contains("tier1_per_ms")) r.tier1_per_ms = number_of(j.at("tier1_per_ms"));
  if (j.contains("seconds")) r.seconds = j.at("seconds").get<std::map<std::string, double>>();
  if (j.contains("interaction"))
    for (const auto& [k, v] : j.at("interaction").items())
      r.interaction[k] = {v.at("group").get<double>(), v.at("sum_of_units").get<double>(),
                          v.at("group_minus_sum").get<double>()};
  return r;
}

}  // namespace

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json to_json(const Estimate& e) {
  return {{"mean", finite_or_null(e.mean)},
          {"ci95", {finite_or_null(e.ci_low), finite_or_null(e.ci_high)}},
          {"n", e.n}};
}

json ImportanceArtifact::to_json() const {
  json j = header.to_json();
  if (!shard_devices.empty()) {
    json d = json::array();
    for (const auto& x : shard_devices)
      d.push_back({{"kind", x.kind}, {"name", x.name}, {"threads", x.threads}});
    j["shard_devices"] = d;
  }
  j["settings"] = settings_json(settings);
  j["shard"] = {{"index", shard_index}, {"count", shard_count}};
  j["definitions"] = definitions;
  if (latency)
    j["latency"] = {{"profile", latency->profile},
                    {"backend", latency->backend},
                    {"device", latency->device},
                    {"unobserved_forward_ms", latency->unobserved_forward_ms}};
  json t = {{"fingerprint", teacher.fingerprint},
            {"kept_steps", teacher.kept_steps},
            {"kept_timesteps", teacher.kept_timesteps},
            {"seconds", teacher.seconds}};
  if (teacher.quality) t["quality"] = number_map_json(*teacher.quality);
  j["teacher"] = t;
  json rs = json::array();
  for (const auto& r : results) rs.push_back(result_json(r));
  j["results"] = rs;
  j["complete"] = complete;
  j["ranking"] = ranking;
  json rc = json::object();
  for (const auto& [k, c] : rank_correlation)
    rc[k] = {{"spearman", finite_or_null(c.spearman)}, {"n", c.n}};
  j["rank_correlation"] = rc;
  return j;
}

ImportanceArtifact ImportanceArtifact::from_json(const json& j, const std::string& source) {
  ImportanceArtifact a;
  a.header = ArtifactHeader::from_json(j, kArtifact, kSchemaVersion, source, kMadeBy);
  parse_artifact_fields(kArtifact, source, [&] {
    if (j.contains("shard_devices"))
      for (const auto& d : j.at("shard_devices"))
        a.shard_devices.push_back({d.value("kind", std::string()), d.value("name", std::string()),
                                   d.value("threads", 0)});
    a.settings = settings_of(j.at("settings"));
    a.shard_index = j.at("shard").at("index").get<int>();
    a.shard_count = j.at("shard").at("count").get<int>();
    a.definitions = j.at("definitions").get<std::map<std::string, std::string>>();
    if (j.contains("latency")) {
      const json& l = j.at("latency");
      a.latency =
          Latency{l.at("profile").get<std::string>(), l.at("backend").get<std::string>(),
                  l.at("device").get<std::string>(), l.at("unobserved_forward_ms").get<double>()};
    }
    if (j.contains("teacher")) {  // absent only in a file written before the teacher pass ended
      const json& t = j.at("teacher");
      a.teacher.fingerprint = t.at("fingerprint").get<std::string>();
      a.teacher.kept_steps = t.at("kept_steps").get<std::vector<int>>();
      a.teacher.kept_timesteps = t.at("kept_timesteps").get<std::vector<double>>();
      a.teacher.seconds = t.at("seconds").get<double>();
      if (t.contains("quality")) a.teacher.quality = number_map_of(t.at("quality"));
    }
    for (const auto& r : j.at("results")) a.results.push_back(result_of(r));
    a.complete = j.at("complete").get<bool>();
    a.ranking = j.at("ranking").get<std::map<std::string, std::vector<std::string>>>();
    for (const auto& [k, v] : j.at("rank_correlation").items())
      a.rank_correlation[k] = {number_of(v.at("spearman")), v.at("n").get<int>()};
  });
  return a;
}

std::string json_differences(const json& x, const json& y) {
  std::vector<std::string> d;
  for (const auto& [k, v] : y.items()) {
    if (x.contains(k) && x.at(k) == v) continue;
    std::string l = x.contains(k) ? x.at(k).dump() : "(none)", r = v.dump();
    if (l.size() > 60) l = l.substr(0, 57) + "...";
    if (r.size() > 60) r = r.substr(0, 57) + "...";
    d.push_back(fmt::format("{}: {} vs {}", k, l, r));
  }
  return join_limited(d, 4);
}

std::string settings_differences(const ImportanceSettings& a, const ImportanceSettings& b) {
  return json_differences(settings_json(a), settings_json(b));
}

ImportanceArtifact ImportanceArtifact::read(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void ImportanceArtifact::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

}  // namespace asdm
