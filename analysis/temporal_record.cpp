#include "analysis/temporal_record.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/importance.h"
#include "analysis/json_numbers.h"
#include "analysis/settings_json.h"
#include "core/error.h"
#include "core/suggest.h"

namespace asdm {
namespace {

using json = nlohmann::json;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

json settings_json(const TemporalSettings& s) {
  json j = run_settings_json(s);
  j["sampler"]["calls"] = s.calls;
  j["max_gap"] = s.max_gap;
  j["intervals"] = s.intervals;
  j["units"] = s.units;
  return j;
}

TemporalSettings settings_of(const json& j) {
  TemporalSettings s;
  read_run_settings(j, s);
  s.calls = j.at("sampler").at("calls").get<int>();
  s.max_gap = j.at("max_gap").get<int>();
  s.intervals = j.at("intervals").get<std::vector<int>>();
  s.units = j.at("units").get<std::vector<std::string>>();
  return s;
}

json unit_json(const TemporalUnit& u) {
  json j = {{"id", u.id}, {"kind", u.kind}};
  if (u.latency_ms) j["latency_ms"] = finite_or_null(*u.latency_ms);
  json gaps = json::array();
  for (const auto& g : u.change_sq) gaps.push_back(numbers_json(g));
  j["tier1"] = {{"change", to_json(u.change)},
                {"reuse_cost", to_json(u.reuse_cost)},
                {"change_sq", gaps},
                {"reuse_nmse", numbers_json(u.reuse_nmse)},
                {"per_prompt",
                 {{"change", numbers_json(u.per_prompt_change)},
                  {"reuse_cost", numbers_json(u.per_prompt_reuse)}}}};
  if (const auto c = u.cost_per_ms()) j["cost_per_ms"] = finite_or_null(*c);
  json t2 = json::array();
  for (const auto& r : u.uniform) {
    json x = {{"interval", r.interval},
              {"reusing_calls", r.reusing_calls},
              {"ssim_loss", to_json(r.ssim_loss)},
              {"psnr_db", to_json(r.psnr_db)},
              {"seconds", r.seconds}};
    if (r.quality) x["quality"] = number_map_json(*r.quality);
    if (r.quality_delta) x["quality_delta"] = number_map_json(*r.quality_delta);
    t2.push_back(x);
  }
  j["tier2"] = t2;
  return j;
}

TemporalUnit unit_of(const json& j) {
  TemporalUnit u;
  u.id = j.at("id").get<std::string>();
  u.kind = j.at("kind").get<std::string>();
  if (j.contains("latency_ms")) u.latency_ms = number_of(j.at("latency_ms"));
  const json& t1 = j.at("tier1");
  u.change = estimate_of(t1.at("change"));
  u.reuse_cost = estimate_of(t1.at("reuse_cost"));
  for (const auto& g : t1.at("change_sq")) u.change_sq.push_back(numbers_of(g));
  u.reuse_nmse = numbers_of(t1.at("reuse_nmse"));
  u.per_prompt_change = numbers_of(t1.at("per_prompt").at("change"));
  u.per_prompt_reuse = numbers_of(t1.at("per_prompt").at("reuse_cost"));
  for (const auto& x : j.at("tier2")) {
    TemporalUniform r;
    r.interval = x.at("interval").get<int>();
    r.reusing_calls = x.at("reusing_calls").get<int>();
    r.ssim_loss = estimate_of(x.at("ssim_loss"));
    r.psnr_db = estimate_of(x.at("psnr_db"));
    r.seconds = x.at("seconds").get<double>();
    if (x.contains("quality")) r.quality = number_map_of(x.at("quality"));
    if (x.contains("quality_delta")) r.quality_delta = number_map_of(x.at("quality_delta"));
    u.uniform.push_back(r);
  }
  return u;
}

std::string num(double v, const char* f = "{:.4g}") {
  return std::isnan(v) ? std::string("-") : fmt::format(fmt::runtime(f), v);
}

}  // namespace

std::optional<double> TemporalUnit::cost_per_ms() const {
  if (!latency_ms || !(*latency_ms > 0) || reuse_cost.n == 0) return std::nullopt;
  return reuse_cost.mean / *latency_ms;
}

double TemporalUnit::reuse_cost_at(int call, int gap) const {
  if (gap < 1 || gap > int(change_sq.size()) || call < gap || call >= int(reuse_nmse.size()))
    return kNaN;
  const double one = reuse_nmse[call];
  if (gap == 1) return one;
  const double d1 = change_sq[0][call], dg = change_sq[gap - 1][call];
  if (std::isnan(one) || std::isnan(dg)) return kNaN;
  // A branch that did not change over one call: scale from zero by the gap's change alone.
  if (!(d1 > 0)) return dg > 0 ? std::numeric_limits<double>::infinity() : one;
  return one * dg / d1;
}

const TemporalUnit& TemporalArtifact::unit(const std::string& id) const {
  for (const auto& u : units)
    if (u.id == id) return u;
  std::vector<std::string> ids;
  for (const auto& u : units) ids.push_back(u.id);
  if (const std::string guess = did_you_mean_id(id, ids); !guess.empty())
    fail("temporal.json has no unit '{}'{}", id, guess);
  fail("temporal.json has no unit '{}'; it has {}", id, join_limited(ids, 8));
}

json TemporalArtifact::to_json() const {
  json j = header.to_json();
  j["settings"] = settings_json(settings);
  j["definitions"] = definitions;
  json t = {{"timesteps", teacher.timesteps},
            {"fingerprint", teacher.fingerprint},
            {"seconds", teacher.seconds}};
  if (teacher.quality) t["quality"] = number_map_json(*teacher.quality);
  j["teacher"] = t;
  if (latency)
    j["latency"] = {{"profile", latency->profile},
                    {"device", latency->device},
                    {"forward_ms", latency->forward_ms}};
  j["prompts_done"] = prompts_done;
  json us = json::array();
  for (const auto& u : units) us.push_back(unit_json(u));
  j["units"] = us;
  j["complete"] = complete;
  return j;
}

TemporalArtifact TemporalArtifact::from_json(const json& j, const std::string& source) {
  TemporalArtifact d;
  d.header = ArtifactHeader::from_json(j, kArtifact, kSchemaVersion, source, kMadeBy);
  parse_artifact_fields(kArtifact, source, [&] {
    d.settings = settings_of(j.at("settings"));
    d.definitions = j.at("definitions").get<std::map<std::string, std::string>>();
    const json& t = j.at("teacher");
    d.teacher.timesteps = t.at("timesteps").get<std::vector<double>>();
    d.teacher.fingerprint = t.at("fingerprint").get<std::string>();
    d.teacher.seconds = t.at("seconds").get<double>();
    if (t.contains("quality")) d.teacher.quality = number_map_of(t.at("quality"));
    if (j.contains("latency")) {
      const json& l = j.at("latency");
      d.latency = Latency{l.at("profile").get<std::string>(), l.at("device").get<std::string>(),
                          l.at("forward_ms").get<double>()};
    }
    d.prompts_done = j.at("prompts_done").get<int>();
    for (const auto& u : j.at("units")) d.units.push_back(unit_of(u));
    d.complete = j.at("complete").get<bool>();
  });
  for (const auto& u : d.units) {
    const size_t calls = static_cast<size_t>(d.settings.calls);
    if (u.reuse_nmse.size() != calls)
      fail("{}: unit {} has {} reuse costs for {} model calls", source, u.id, u.reuse_nmse.size(),
           calls);
    for (const auto& g : u.change_sq)
      if (g.size() != calls)
        fail("{}: unit {} has {} relative changes for {} model calls", source, u.id, g.size(),
             calls);
  }
  return d;
}

TemporalArtifact TemporalArtifact::read(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void TemporalArtifact::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

std::string temporal_settings_differences(const TemporalSettings& a, const TemporalSettings& b) {
  return json_differences(settings_json(a), settings_json(b));
}

std::string temporal_table(const TemporalArtifact& doc, int max_rows) {
  std::vector<const TemporalUnit*> rows;
  for (const auto& u : doc.units) rows.push_back(&u);
  const bool per_ms = std::any_of(
      rows.begin(), rows.end(), [](const TemporalUnit* u) { return u->cost_per_ms().has_value(); });
  auto key = [&](const TemporalUnit* u) {
    return per_ms ? u->cost_per_ms().value_or(kNaN) : u->reuse_cost.mean;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const TemporalUnit* a, const TemporalUnit* b) {
    const double x = key(a), y = key(b);
    return std::isnan(y) ? !std::isnan(x) : (!std::isnan(x) && x < y);
  });
  std::vector<int> intervals = doc.settings.intervals;
  const bool t2 = std::any_of(rows.begin(), rows.end(),
                              [](const TemporalUnit* u) { return !u->uniform.empty(); });
  std::string out = per_ms ? "cheapest to reuse per ms saved (one-step reuse cost / ms per call):\n"
                           : "cheapest to reuse (one-step reuse cost):\n";
  out += fmt::format("{:>4}  {:<40} {:<10} {:>12} {:>12} {:>8} {:>10}", "rank", "unit", "kind",
                     "rel. change", "reuse nMSE", "ms/call", "per ms");
  if (t2)
    for (int k : intervals) out += fmt::format(" {:>13}", fmt::format("1-SSIM|Δacc k{}", k));
  out += "\n";
  const size_t n = max_rows > 0 ? std::min<size_t>(rows.size(), max_rows) : rows.size();
  for (size_t i = 0; i < n; ++i) {
    const TemporalUnit& u = *rows[i];
    out += fmt::format("{:>4}  {:<40} {:<10} {:>12} {:>12} {:>8} {:>10}", i + 1, u.id, u.kind,
                       num(u.change.mean), num(u.reuse_cost.mean),
                       num(u.latency_ms.value_or(kNaN), "{:.3f}"),
                       num(u.cost_per_ms().value_or(kNaN)));
    if (t2)
      for (int k : intervals) {
        std::string cell = "-";
        for (const auto& r : u.uniform)
          if (r.interval == k) {
            const double acc = r.quality_delta && r.quality_delta->count("mean_accuracy")
                                   ? r.quality_delta->at("mean_accuracy")
                                   : kNaN;
            cell = num(r.ssim_loss.mean, "{:.3g}") + "|" + num(acc, "{:+.3f}");
          }
        out += fmt::format(" {:>13}", cell);
      }
    out += "\n";
  }
  if (n < rows.size()) out += fmt::format("  ... {} more (--rows 0: all)\n", rows.size() - n);
  if (!doc.complete && doc.prompts_done < doc.settings.prompts && doc.settings.tier != "2")
    out += fmt::format("(incomplete: tier 1 over {} of {} prompts; continue with --resume)\n",
                       doc.prompts_done, doc.settings.prompts);
  else if (!doc.complete)
    out += "(incomplete: tier 2 unfinished; continue with --resume)\n";
  return out;
}

}  // namespace asdm
