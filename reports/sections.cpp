#include "reports/sections.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/artifact.h"
#include "core/error.h"
#include "core/unit_id.h"
#include "incubation/run_state.h"
#include "reports/svg.h"

namespace asdm::reports {

namespace fs = std::filesystem;

// ---- cells, tables, CSV, sections, context ------------------------------------------------------

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
double or_nan(const std::optional<double>& v) { return v ? *v : kNaN; }
std::string block_group(const std::string& id) {
  const std::string b = unit_id::block_of(id);
  return b.empty() ? "fixed" : b;
}
std::string device_text(const ArtifactHeader& h) {
  return fmt::format("{} ({}, {} threads)", h.device_kind.empty() ? "?" : h.device_kind,
                     h.device_name.empty() ? "?" : h.device_name, h.threads);
}
}  // namespace

std::string fmt_num(double v, int digits) {
  if (!std::isfinite(v)) return "–";
  return fmt::format("{:.{}g}", v, digits);
}
std::string fmt_fixed(double v, int decimals) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "–";
}
std::string fmt_pct(double fraction, int decimals) {
  return std::isfinite(fraction) ? fmt::format("{:.{}f}%", 100 * fraction, decimals) : "–";
}
std::string fmt_count(double v) {
  if (!std::isfinite(v)) return "–";
  const double a = std::abs(v);
  if (a >= 1e9) return fmt::format("{:.2f} G", v / 1e9);
  if (a >= 1e6) return fmt::format("{:.2f} M", v / 1e6);
  if (a >= 1e3) return fmt::format("{:.1f} k", v / 1e3);
  return fmt::format("{:.0f}", v);
}
std::string fmt_bytes(double v) {
  if (!std::isfinite(v)) return "–";
  if (v >= 1 << 30) return fmt::format("{:.2f} GiB", v / (1 << 30));
  if (v >= 1 << 20) return fmt::format("{:.1f} MiB", v / (1 << 20));
  return fmt::format("{:.0f} KiB", v / 1024);
}
std::string raw(double v) { return std::isfinite(v) ? fmt::format("{:.9g}", v) : ""; }

std::string Table::html() const {
  std::string out = "<table><thead><tr>";
  for (const auto& h : header) out += "<th>" + escape_xml(h) + "</th>";
  out += "</tr></thead><tbody>";
  for (const auto& r : rows) {
    out += "<tr>";
    for (const auto& c : r) out += "<td>" + escape_xml(c) + "</td>";
    out += "</tr>";
  }
  return out + "</tbody></table>\n";
}

std::string Table::markdown() const {
  auto cell = [](std::string s) {
    for (size_t p = 0; (p = s.find('|', p)) != std::string::npos; p += 2) s.replace(p, 1, "\\|");
    return s;
  };
  std::string out = "|";
  for (const auto& h : header) out += " " + cell(h) + " |";
  out += "\n|";
  for (size_t i = 0; i < header.size(); ++i) out += " --- |";
  out += "\n";
  for (const auto& r : rows) {
    out += "|";
    for (const auto& c : r) out += " " + cell(c) + " |";
    out += "\n";
  }
  return out + "\n";
}

std::string Csv::text() const {
  auto quote = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string out;
  auto line = [&](const std::vector<std::string>& r) {
    for (size_t i = 0; i < r.size(); ++i) out += (i ? "," : "") + quote(r[i]);
    out += "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

void Section::para(const std::string& text) {
  html += "<p>" + escape_xml(text) + "</p>\n";
  md += text + "\n\n";
}
void Section::table(const Table& t) {
  html += t.html();
  md += t.markdown();
}
void Section::chart(const std::string& svg) {
  html += "<figure>" + svg + "</figure>\n";
  ++charts;
}

std::string Context::name_for(const Artifact& a, const std::string& what, const std::string& ext) {
  std::string base = a.type + "-" + a.path.stem().string() + (what.empty() ? "" : "-" + what);
  for (char& c : base)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  std::string name = base + "." + ext;
  for (int k = 2; used_names.count(name); ++k) name = fmt::format("{}-{}.{}", base, k, ext);
  used_names.insert(name);
  return name;
}

void Context::write_csv(Section& s, const Artifact& a, const std::string& what, const Csv& csv) {
  const std::string name = name_for(a, what, "csv");
  write_file_atomic(dir / name, csv.text());
  files->csv.push_back(dir / name);
  s.html += fmt::format("<p class=\"files\">Table as CSV: <a href=\"{0}\">{0}</a></p>\n",
                        escape_xml(name));
  s.md += fmt::format("CSV: [{0}]({0})\n\n", name);
}

void Context::embed_image(Section& s, const Artifact& a, const fs::path& image,
                          const std::string& caption) {
  const fs::path src = image.is_absolute() ? image : a.path.parent_path() / image;
  if (!fs::exists(src)) {
    s.para(fmt::format("(sample grid {} not found)", src.string()));
    return;
  }
  const std::string bytes = read_text_file(src);
  const std::string name = name_for(a, "samples-" + src.stem().string(), "png");
  write_file_atomic(dir / name, bytes);
  files->images.push_back(dir / name);
  s.html += fmt::format(
      "<figure><img class=\"samples\" alt=\"{0}\" "
      "src=\"data:image/png;base64,{1}\"><figcaption>{0}</figcaption></figure>\n",
      escape_xml(caption), base64(bytes));
  s.md += fmt::format("![{0}]({1})\n\n", caption, name);
}

// ---- inspect.json -------------------------------------------------------------------------------

Section inspect_section(const Artifact& a, const InspectArtifact& d, Context& cx) {
  const CostReport& c = d.cost;
  Section s("Model: parameters and MACs", a.path.string());
  s.para(fmt::format(
      "{} at {}: {} parameters, {} MACs ({} with the attention matmuls). Counting rule: {}.",
      d.model, c.input.text(), fmt_count(c.params), fmt_count(c.macs),
      fmt_count(c.macs + c.attn_macs), d.macs_rule));
  std::vector<Bar> bars;
  Csv csv{{"unit", "kind", "block", "params", "macs", "attn_macs", "removed"}, {}};
  for (const auto& u : c.units) {
    if (!u.parent.empty()) continue;
    bars.push_back({u.id, (u.macs + u.attn_macs) / 1e9, block_group(u.id)});
    csv.rows.push_back({u.id, std::string(to_string(u.kind)), block_group(u.id), raw(u.params),
                        raw(u.macs), raw(u.attn_macs), u.removed ? "true" : "false"});
  }
  s.chart(bar_chart("MACs per unit (attention matmuls included), coloured by block", bars, "GMAC"));
  cx.write_csv(s, a, "units", csv);
  return s;
}

// ---- profile.json -------------------------------------------------------------------------------

Section profile_section(const Artifact& a, const ProfileArtifact& d, Context& cx) {
  const ProfileReport& r = d.report;
  Section s("Per-unit latency", a.path.string());
  const double fwd = r.forward_ms.median;
  s.para(fmt::format(
      "{} on {} with the {} backend, {}, {}: forward {} ms median (p10 {}, p90 {}), coverage {}, "
      "the profile's own overhead {}.",
      d.model, device_text(d.header), r.backend, r.dtype, r.input.text(), fmt_num(fwd, 4),
      fmt_num(r.forward_ms.p10, 4), fmt_num(r.forward_ms.p90, 4), fmt_pct(r.coverage),
      fmt_pct(r.overhead)));
  std::vector<Bar> bars;
  std::vector<Point> points;
  Csv csv{{"unit", "kind", "block", "parent", "self_ms_median", "self_ms_p10", "self_ms_p90",
           "inclusive_ms_median", "share", "params", "macs", "attn_macs", "ms_per_gmac"},
          {}};
  struct Row {
    std::string id, kind;
    double self, share, mpg, params, macs;
  };
  std::vector<Row> rows;
  for (const auto& u : r.units) {
    const std::string kind(to_string(u.kind));
    const Summary& self = u.exclusive_ms;
    const double incl = u.inclusive_ms.median;
    const double macs = double(u.macs) + double(u.attn_macs);
    const double mpg = macs > 0 ? incl / (macs / 1e9) : kNaN;
    bars.push_back({u.id, self.median, block_group(u.id), self.p10, self.p90});
    if (u.parent.empty() && macs > 0) points.push_back({macs / 1e9, incl, u.id, kind});
    csv.rows.push_back({u.id, kind, block_group(u.id), u.parent, raw(self.median), raw(self.p10),
                        raw(self.p90), raw(incl), raw(self.median / fwd), raw(u.params),
                        raw(u.macs), raw(u.attn_macs), raw(mpg)});
    rows.push_back({u.id, kind, self.median, self.median / fwd, mpg, double(u.params), macs});
  }
  s.chart(
      bar_chart("Self time per unit (median, whiskers p10–p90), forward order, coloured by block",
                bars, "ms"));
  s.chart(scatter_chart("Latency against MACs (top-level units; MACs include attention matmuls)",
                        points, {}, {"GMAC", false}, {"inclusive ms (median)", false}));
  std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.self > y.self; });
  Table t{{"unit", "kind", "self ms", "share", "ms / GMAC", "params", "MACs"}, {}};
  for (size_t i = 0; i < rows.size() && i < 15; ++i)
    t.rows.push_back({rows[i].id, rows[i].kind, fmt_num(rows[i].self, 3), fmt_pct(rows[i].share),
                      fmt_num(rows[i].mpg, 3), fmt_count(rows[i].params), fmt_count(rows[i].macs)});
  s.para(
      fmt::format("The {} units with the most self time (of {}); ms per GMAC shows latency out of "
                  "proportion to compute.",
                  std::min<size_t>(15, rows.size()), rows.size()));
  s.table(t);
  cx.write_csv(s, a, "units", csv);
  return s;
}

// ---- importance.json ----------------------------------------------------------------------------

namespace {
// Latency saved per unit: from the importance file when it was run with a profile, else from a
// profile in the report.
std::map<std::string, double> latency_saved(const ImportanceArtifact& imp, const Context& cx) {
  std::map<std::string, double> ms;
  for (const auto& r : imp.results)
    if (r.latency_saved_ms && std::isfinite(*r.latency_saved_ms)) ms[r.id] = *r.latency_saved_ms;
  if (!ms.empty()) return ms;
  if (const ProfileArtifact* p = cx.first<ProfileArtifact>())
    for (const auto& u : p->report.units) ms[u.id] = u.inclusive_ms.median;
  return ms;
}
}  // namespace

Section importance_section(const Artifact& a, const ImportanceArtifact& d, Context& cx) {
  const ImportanceSettings& st = d.settings;
  Section s("Importance: what each unit is worth", a.path.string());
  s.para(fmt::format("{}; {} prompts, tier {}, {} timesteps, seed {}{}.", st.subject, st.prompts,
                     st.tier, st.timesteps, st.seed,
                     d.complete ? "" : " — an unfinished run (complete: false)"));
  const auto saved = latency_saved(d, cx);
  std::vector<Point> points;
  Csv csv{{"unit", "kind", "tier1_nmse", "tier1_ci_lo", "tier1_ci_hi", "tier1_cosine", "tier2",
           "latency_saved_ms"},
          {}};
  struct Row {
    std::string id, kind;
    double nmse, lo, hi, cosine, tier2, ms;
  };
  std::vector<Row> rows;
  for (const auto& r : d.results) {
    Row row{r.id, r.kind, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
    if (r.tier1) {
      row.nmse = r.tier1->nmse.mean;
      row.lo = r.tier1->nmse.ci_low;
      row.hi = r.tier1->nmse.ci_high;
      row.cosine = r.tier1->cosine.mean;
    }
    if (r.tier2) row.tier2 = r.tier2->ssim_loss.mean;
    if (const auto it = saved.find(row.id); it != saved.end()) row.ms = it->second;
    rows.push_back(row);
    csv.rows.push_back({row.id, row.kind, raw(row.nmse), raw(row.lo), raw(row.hi), raw(row.cosine),
                        raw(row.tier2), raw(row.ms)});
    if (std::isfinite(row.ms) && std::isfinite(row.nmse))
      points.push_back({row.ms, row.nmse, row.id, block_group(row.id)});
  }
  if (!points.empty()) {
    std::vector<Series> lines;
    const CandidateSet* cand = cx.first<CandidateSet>();
    if (cand) {
      // The search's front on the same axes: a removal set's latency saved and summed loss.
      const double teacher_ms = cand->teacher.forward_ms;
      Series front{"Pareto front (removal sets)", {}, {}, true};
      for (const auto& [speedup, loss] : cand->front) {
        front.xs.push_back(speedup * teacher_ms);
        front.ys.push_back(loss);
      }
      lines.push_back(front);
      for (const auto& c : cand->candidates)
        points.push_back(
            {c.predicted_speedup * teacher_ms, c.predicted_loss, c.name, "candidates", true});
    }
    s.chart(scatter_chart(
        cand ? "Importance against latency saved: units, and the removal sets on the Pareto front"
             : "Importance against latency saved per unit",
        points, lines, {"latency saved (ms)", false}, {"tier-1 nMSE (summed for sets)", true}));
  } else {
    s.para(
        "No latency per unit: run the ablation with --profile, or add a profile of the same model "
        "to the report.");
  }
  std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.nmse > y.nmse; });
  Table t{
      {"rank", "unit", "kind", "tier-1 nMSE", "95% CI", "cosine", "tier 2 (1 − SSIM)", "saves ms"},
      {}};
  for (size_t i = 0; i < rows.size(); ++i)
    t.rows.push_back({std::to_string(i + 1), rows[i].id, rows[i].kind, fmt_num(rows[i].nmse, 3),
                      fmt::format("{} – {}", fmt_num(rows[i].lo, 2), fmt_num(rows[i].hi, 2)),
                      fmt_fixed(rows[i].cosine, 4), fmt_num(rows[i].tier2, 3),
                      fmt_num(rows[i].ms, 3)});
  s.table(t);
  cx.write_csv(s, a, "units", csv);
  return s;
}

// ---- temporal.json ------------------------------------------------------------------------------

Section temporal_section(const Artifact& a, const TemporalArtifact& d, Context& cx) {
  const TemporalSettings& st = d.settings;
  Section s("Temporal redundancy: what each unit costs to reuse", a.path.string());
  s.para(fmt::format(
      "{}; {} prompts, {} {} steps ({} model calls), guidance {}, tier {}{}. One-step reuse cost: "
      "epsilon's nMSE at the teacher's state when the unit takes its branch from the call before; "
      "relative change: |b_s − b_(s−1)| / |b_s| of its branch output.",
      st.subject, st.prompts, st.sampler, st.steps, st.calls, fmt_num(st.guidance, 3), st.tier,
      d.complete ? "" : " — an unfinished run (complete: false)"));
  Csv csv{{"unit", "kind", "relative_change", "reuse_cost", "reuse_cost_ci_lo", "reuse_cost_ci_hi",
           "ms_per_call", "cost_per_ms"},
          {}};
  std::vector<const TemporalUnit*> rows;
  std::vector<Point> points;
  for (const auto& u : d.units) {
    rows.push_back(&u);
    const double ms = u.latency_ms.value_or(kNaN), per_ms = u.cost_per_ms().value_or(kNaN);
    csv.rows.push_back({u.id, u.kind, raw(u.change.mean), raw(u.reuse_cost.mean),
                        raw(u.reuse_cost.ci_low), raw(u.reuse_cost.ci_high), raw(ms), raw(per_ms)});
    if (std::isfinite(ms)) points.push_back({ms, u.reuse_cost.mean, u.id, block_group(u.id)});
  }
  if (!points.empty())
    s.chart(scatter_chart("One-step reuse cost against the time a reuse saves", points, {},
                          {"ms per call (profile)", false}, {"reuse cost (epsilon nMSE)", true}));
  // Per call, for the units that cost most to reuse: where in the trajectory reuse hurts.
  std::vector<const TemporalUnit*> costly = rows;
  std::sort(costly.begin(), costly.end(),
            [](const auto* x, const auto* y) { return x->reuse_cost.mean > y->reuse_cost.mean; });
  std::vector<Series> curves;
  for (size_t i = 0; i < costly.size() && i < 5; ++i) {
    Series c{costly[i]->id, {}, {}, false};
    for (size_t call = 1; call < costly[i]->reuse_nmse.size(); ++call)
      if (std::isfinite(costly[i]->reuse_nmse[call]) && costly[i]->reuse_nmse[call] > 0) {
        c.xs.push_back(double(call));
        c.ys.push_back(costly[i]->reuse_nmse[call]);
      }
    if (!c.xs.empty()) curves.push_back(c);
  }
  if (!curves.empty())
    s.chart(line_chart("One-step reuse cost per model call (the five costliest units)", curves,
                       {"model call", false}, {"reuse cost (epsilon nMSE)", true}));
  std::stable_sort(rows.begin(), rows.end(), [](const auto* x, const auto* y) {
    const double a = x->cost_per_ms().value_or(x->reuse_cost.mean),
                 b = y->cost_per_ms().value_or(y->reuse_cost.mean);
    return a < b;
  });
  Table t{{"rank", "unit", "kind", "relative change", "reuse cost", "95% CI", "ms per call",
           "cost per ms"},
          {}};
  for (size_t i = 0; i < rows.size(); ++i) {
    const TemporalUnit& u = *rows[i];
    t.rows.push_back(
        {std::to_string(i + 1), u.id, u.kind, fmt_num(u.change.mean, 3),
         fmt_num(u.reuse_cost.mean, 3),
         fmt::format("{} – {}", fmt_num(u.reuse_cost.ci_low, 2), fmt_num(u.reuse_cost.ci_high, 2)),
         fmt_num(u.latency_ms.value_or(kNaN), 3), fmt_num(u.cost_per_ms().value_or(kNaN), 3)});
  }
  s.table(t);
  cx.write_csv(s, a, "units", csv);
  return s;
}

// ---- candidates.json ----------------------------------------------------------------------------

Section candidates_section(const Artifact& a, const CandidateSet& d, Context& cx) {
  Section s("Candidates under the latency budget", a.path.string());
  s.para(fmt::format(
      "Teacher {} at {} ms (profile median; {}); target speed-up {}, best reachable {}; loss = {}.",
      d.teacher.model, fmt_num(d.teacher.forward_ms, 4), d.teacher.input.text(),
      fmt_pct(d.options.target_speedup), fmt_pct(d.best_reachable_speedup), d.predicted_loss));
  Series front{"Pareto front", {}, {}, true};
  for (const auto& [speedup, loss] : d.front) {
    front.xs.push_back(speedup);
    front.ys.push_back(loss);
  }
  std::vector<Point> points;
  Table t{{"candidate", "removed", "edits", "predicted ms", "predicted speed-up",
           "measured speed-up", "error", "predicted loss", "params", "MACs"},
          {}};
  Csv csv{
      {"candidate", "removed", "clme", "gri", "predicted_ms", "predicted_speedup", "measured_ms",
       "measured_speedup", "prediction_error", "predicted_loss", "params", "macs", "removed_units"},
      {}};
  for (const auto& c : d.candidates) {
    int clme = 0, gri = 0;
    for (const auto& e : c.arch.edits) {
      clme += e.op == Edit::Op::kClme;
      gri += e.op == Edit::Op::kGri;
    }
    std::string removed_list;
    for (const auto& r : c.removed) removed_list += (removed_list.empty() ? "" : " ") + r;
    const double measured = or_nan(c.measured_speedup);
    points.push_back(
        {c.predicted_speedup, c.predicted_loss, c.name, "candidates (predicted)", true});
    if (std::isfinite(measured))
      points.push_back({measured, c.predicted_loss, c.name + " measured", "candidates (measured)"});
    t.rows.push_back(
        {c.name + (c.refined ? " (refined)" : ""), std::to_string(c.removed.size()),
         clme || gri ? fmt::format("{} CLME, {} GRI", clme, gri) : std::string("removals"),
         fmt_num(c.predicted_ms, 4), fmt_pct(c.predicted_speedup), fmt_pct(measured),
         fmt_pct(or_nan(c.prediction_error)), fmt_num(c.predicted_loss, 3), fmt_count(c.params),
         fmt_count(c.macs)});
    csv.rows.push_back({c.name, std::to_string(c.removed.size()), std::to_string(clme),
                        std::to_string(gri), raw(c.predicted_ms), raw(c.predicted_speedup),
                        raw(c.measured_ms ? c.measured_ms->median : kNaN), raw(measured),
                        raw(or_nan(c.prediction_error)), raw(c.predicted_loss), raw(c.params),
                        raw(c.macs), removed_list});
  }
  s.chart(scatter_chart(
      "Pareto front: predicted loss against speed-up, with the emitted candidates", points, {front},
      {"UNet speed-up (fraction of the teacher's latency saved)", false},
      {"predicted loss", true}));
  s.table(t);
  if (d.validation)
    s.para(fmt::format("Predictor check on {} random removal sets: mean |error| {}, max {}.",
                       d.validation->sets.size(), fmt_pct(d.validation->mean_abs_error),
                       fmt_pct(d.validation->max_abs_error)));
  cx.write_csv(s, a, "candidates", csv);
  return s;
}

// ---- bench.json ---------------------------------------------------------------------------------

namespace {
// Quality cells: the classifier's numbers only where a classifier ran.
double accuracy_of(const QualityResult& q) { return q.classified ? q.mean_accuracy : kNaN; }
double all_correct_of(const QualityResult& q) { return q.classified ? q.all_correct : kNaN; }
double fid_of(const QualityResult& q) { return q.classified ? q.fid : kNaN; }
}  // namespace

Section bench_section(const Artifact& a, const BenchResult& d, Context& cx) {
  const BenchOptions& o = d.options;
  Section s("Benchmark: teacher against students", a.path.string());
  const auto& models = d.models;
  s.para(
      fmt::format("{}; UNet at {}, {} interleaved rounds; pipeline {} steps of {} (guidance {}); "
                  "quality on {} prompts. Speed-ups "
                  "are ratios of medians from the same interleaved run, against {}.",
                  device_text(d.header), d.input.text(), o.runs, o.sampler.steps, o.sampler.sampler,
                  o.sampler.guidance, o.quality_prompts, models.empty() ? "" : models[0].name));
  Table speed{{"model", "UNet ms (p10–p90)", "UNet speed-up", "pipeline ms", "text encoder",
               "UNet × steps", "decoder", "pipeline speed-up", "peak memory", "params", "MACs"},
              {}};
  Table quality{{"model", "mean attribute accuracy", "all correct", "proxy FID", "PSNR vs ref (dB)",
                 "SSIM vs ref"},
                {}};
  Csv csv{{"model",
           "path",
           "unet_ms_median",
           "unet_ms_p10",
           "unet_ms_p90",
           "unet_speedup",
           "pipeline_ms_median",
           "text_encoder_ms_median",
           "unet_steps_ms_median",
           "decoder_ms_median",
           "pipeline_speedup",
           "peak_bytes",
           "weights_bytes",
           "params",
           "macs",
           "mean_attribute_accuracy",
           "all_attributes_correct",
           "proxy_fid",
           "psnr_db",
           "ssim"},
          {}};
  std::vector<Bar> unet_bars, pipe_bars;
  for (const auto& m : models) {
    const Summary& u = m.unet_ms;
    const PipelineTimes none{{0, kNaN, kNaN, kNaN}, {0, kNaN}, {0, kNaN}, {0, kNaN, kNaN, kNaN}};
    const PipelineTimes& p = m.pipeline ? *m.pipeline : none;
    const double pipe_speedup = m.pipeline ? m.pipeline_speedup : kNaN;
    const double peak = m.unet_peak_bytes >= 0 ? double(m.unet_peak_bytes) : kNaN;
    speed.rows.push_back(
        {m.name,
         fmt::format("{} ({}–{})", fmt_num(u.median, 4), fmt_num(u.p10, 4), fmt_num(u.p90, 4)),
         fmt_pct(m.unet_speedup), fmt_num(p.total_ms.median, 4),
         fmt_num(p.text_encoder_ms.median, 3), fmt_num(p.unet_steps_ms.median, 4),
         fmt_num(p.decoder_ms.median, 3), fmt_pct(pipe_speedup), fmt_bytes(peak),
         fmt_count(m.params), fmt_count(m.macs)});
    const QualityResult* q = m.quality ? &*m.quality : nullptr;
    if (q)
      quality.rows.push_back({m.name, fmt_fixed(accuracy_of(*q), 3),
                              fmt_fixed(all_correct_of(*q), 3), fmt_num(fid_of(*q), 4),
                              fmt_fixed(q->psnr_db, 2), fmt_fixed(q->ssim, 4)});
    csv.rows.push_back({m.name,
                        m.path,
                        raw(u.median),
                        raw(u.p10),
                        raw(u.p90),
                        raw(m.unet_speedup),
                        raw(p.total_ms.median),
                        raw(p.text_encoder_ms.median),
                        raw(p.unet_steps_ms.median),
                        raw(p.decoder_ms.median),
                        raw(pipe_speedup),
                        raw(peak),
                        raw(m.weights_bytes),
                        raw(m.params),
                        raw(m.macs),
                        raw(q ? accuracy_of(*q) : kNaN),
                        raw(q ? all_correct_of(*q) : kNaN),
                        raw(q ? fid_of(*q) : kNaN),
                        raw(q ? q->psnr_db : kNaN),
                        raw(q ? q->ssim : kNaN)});
    unet_bars.push_back({m.name, u.median, m.name, u.p10, u.p90});
    if (m.pipeline)
      pipe_bars.push_back({m.name, p.total_ms.median, m.name, p.total_ms.p10, p.total_ms.p90});
    if (models.size() > 1 && &m != &models[0]) {
      std::string line = fmt::format("{}: UNet {} faster than {}", m.name, fmt_pct(m.unet_speedup),
                                     models[0].name);
      if (std::isfinite(pipe_speedup))
        line += fmt::format(", pipeline {} faster", fmt_pct(pipe_speedup));
      const QualityResult* q0 = models[0].quality ? &*models[0].quality : nullptr;
      if (q && q0 && q->classified)
        line += fmt::format("; mean attribute accuracy {} (reference {}), proxy FID {} ({})",
                            fmt_fixed(accuracy_of(*q), 3), fmt_fixed(accuracy_of(*q0), 3),
                            fmt_num(fid_of(*q), 4), fmt_num(fid_of(*q0), 4)) +
                (std::isfinite(q->proxy_fid_vs_reference)
                     ? fmt::format(", proxy FID vs {} {}", models[0].name,
                                   fmt_num(q->proxy_fid_vs_reference, 3))
                     : std::string());
      else if (q)  // no classifier (real pipelines): closeness to the reference's images
        line += fmt::format("; images against {}'s: PSNR {} dB, SSIM {}", models[0].name,
                            fmt_num(q->psnr_db, 4), fmt_fixed(q->ssim, 3));
      cx.files->headline.push_back(line);
    }
  }
  // Proxy pipelines with a classifier: the proxy FID against the first model's images; Stable
  // Diffusion pipelines benched with --clip / --inception (eval/): two more columns.
  bool has_clip = false, has_fid = false, has_pfid = false;
  for (const auto& m : models)
    if (m.quality) {
      has_clip |= std::isfinite(m.quality->clip_score);
      has_fid |= std::isfinite(m.quality->fid_vs_reference);
      has_pfid |= std::isfinite(m.quality->proxy_fid_vs_reference);
    }
  if (has_pfid) {
    quality.header.push_back(models.empty() ? "proxy FID vs ref"
                                            : "proxy FID vs " + models[0].name);
    csv.header.push_back("proxy_fid_vs_reference");
  }
  if (has_clip) quality.header.push_back("CLIP score");
  if (has_fid) quality.header.push_back(models.empty() ? "FID vs ref" : "FID vs " + models[0].name);
  size_t row = 0;
  for (size_t k = 0; k < models.size(); ++k) {
    const auto& m = models[k];
    if (has_pfid) csv.rows[k].push_back(raw(m.quality ? m.quality->proxy_fid_vs_reference : kNaN));
    if (!m.quality) continue;
    if (has_pfid) quality.rows[row].push_back(fmt_num(m.quality->proxy_fid_vs_reference, 4));
    if (has_clip) quality.rows[row].push_back(fmt_num(m.quality->clip_score, 4));
    if (has_fid)
      quality.rows[row].push_back(fmt_num(m.quality->fid_vs_reference, 4) +
                                  fmt::format(" ({}-d)", m.quality->fid_dims));
    ++row;
  }
  s.table(speed);
  s.chart(bar_chart("UNet forward latency (median, whiskers p10–p90)", unet_bars, "ms"));
  if (!pipe_bars.empty())
    s.chart(bar_chart("Whole pipeline latency (median, whiskers p10–p90)", pipe_bars, "ms"));
  if (!quality.rows.empty()) s.table(quality);
  Table routes{{"model", "routes out of asdm (asdm export)"}, {}};
  for (const auto& m : models)
    if (!m.export_routes.empty()) routes.rows.push_back({m.name, m.export_routes});
  if (!routes.rows.empty()) s.table(routes);
  Table plans{
      {"model", "cache plan (pipeline and quality passes; its UNet row is the plain forward)"}, {}};
  for (const auto& m : models)
    if (!m.cache_plan.empty()) plans.rows.push_back({m.name, m.cache_plan});
  if (!plans.rows.empty()) s.table(plans);
  for (const auto& m : models)
    if (!m.samples_grid.empty())
      cx.embed_image(s, a, fs::path(m.samples_grid), "samples: " + m.name);
  cx.write_csv(s, a, "models", csv);
  return s;
}

// ---- incubation.json ----------------------------------------------------------------------------

Section incubation_section(const Artifact& a, const IncubationRecord& d, Context& cx) {
  Section s("Incubation: training the student back", a.path.string());
  s.para(fmt::format("Student {} from teacher {}: {} steps in {} s on {}.", d.student, d.teacher,
                     d.steps, fmt_num(d.seconds, 4), device_text(d.header)));
  // The log: where incubation.json says, else beside it (a moved run folder).
  fs::path log_path = d.log;
  if (log_path.empty() || !fs::exists(log_path))
    log_path = a.path.parent_path() /
               (log_path.empty() ? fs::path("incubation.jsonl") : log_path.filename());
  const auto log = read_incubation_log(log_path);
  if (!log.empty()) {
    // Moving averages keep the curves readable; the raw values are in the log.
    const size_t window = std::max<size_t>(1, log.size() / 60);
    std::vector<Series> series;
    for (const char* term : {"total", "task", "output", "feature", "semantic"}) {
      Series sr{std::string("loss_") + term, {}, {}, false};
      double acc = 0;
      std::vector<double> buf;
      for (const auto& r : log) {
        const auto it = r.losses.find(term);
        if (it == r.losses.end() || !std::isfinite(it->second)) continue;
        buf.push_back(it->second);
        acc += it->second;
        if (buf.size() > window) acc -= buf[buf.size() - window - 1];
        sr.xs.push_back(r.global_step);
        sr.ys.push_back(acc / std::min(buf.size(), window));
      }
      if (!sr.xs.empty()) series.push_back(std::move(sr));
    }
    s.chart(line_chart(fmt::format("Training losses (moving average over {} steps)", window),
                       series, {"step", false}, {"loss", true}));
    std::string phases;
    std::string last;
    for (const auto& r : log)
      if (phases.empty() || r.phase != last) {
        phases += (phases.empty() ? "" : " → ") + r.phase;
        last = r.phase;
      }
    s.para("Phases in order: " + phases);
  } else {
    s.para("The training log (incubation.jsonl) was not found beside the artifact.");
  }
  if (d.eval) {
    Table t{{"model", "mean attribute accuracy", "all correct", "proxy FID", "PSNR vs teacher (dB)",
             "SSIM vs teacher"},
            {}};
    Csv csv{{"model", "mean_attribute_accuracy", "all_attributes_correct", "proxy_fid",
             "psnr_vs_teacher_db", "ssim_vs_teacher"},
            {}};
    // A Stable Diffusion student's eval with --clip / --inception: two more columns.
    bool has_clip = false, has_fid = false, has_pfid = false;
    for (const auto& [name, q] : *d.eval) {
      has_clip |= std::isfinite(q.clip_score);
      has_fid |= std::isfinite(q.fid_vs_reference);
      has_pfid |= std::isfinite(q.proxy_fid_vs_reference);
    }
    if (has_pfid) {
      t.header.push_back("proxy FID vs teacher");
      csv.header.push_back("proxy_fid_vs_teacher");
    }
    if (has_clip) {
      t.header.push_back("CLIP score");
      csv.header.push_back("clip_score");
    }
    if (has_fid) {
      t.header.push_back("FID vs teacher");
      csv.header.push_back("fid_vs_teacher");
    }
    for (const auto& [name, q] : *d.eval) {
      t.rows.push_back({name, fmt_fixed(accuracy_of(q), 3), fmt_fixed(all_correct_of(q), 3),
                        fmt_num(fid_of(q), 4), fmt_fixed(q.psnr_db, 2), fmt_fixed(q.ssim, 4)});
      csv.rows.push_back({name, raw(accuracy_of(q)), raw(all_correct_of(q)), raw(fid_of(q)),
                          raw(q.psnr_db), raw(q.ssim)});
      if (has_pfid) {
        t.rows.back().push_back(fmt_num(q.proxy_fid_vs_reference, 4));
        csv.rows.back().push_back(raw(q.proxy_fid_vs_reference));
      }
      if (has_clip) {
        t.rows.back().push_back(fmt_num(q.clip_score, 4));
        csv.rows.back().push_back(raw(q.clip_score));
      }
      if (has_fid) {
        t.rows.back().push_back(fmt_num(q.fid_vs_reference, 4) +
                                fmt::format(" ({}-d)", q.fid_dims));
        csv.rows.back().push_back(raw(q.fid_vs_reference));
      }
    }
    s.table(t);
    cx.write_csv(s, a, "eval", csv);
  }
  return s;
}

// ---- eval.json ----------------------------------------------------------------------------------

namespace {

std::string metric_title(const std::string& name) {
  if (name == "fid") return "FID";
  if (name == "inception_score") return "IS";
  if (name == "clip_score") return "CLIP score";
  if (name == "cmmd") return "CMMD";
  return name;
}

std::string metric_detail(const EvalMetric& m) {
  std::string d;
  if (m.name == "fid") d = fmt::format("{} preprocessing, {}-d features", m.mode, m.dims);
  if (m.name == "inception_score") d = fmt::format("{} splits", m.splits);
  if (!m.model.empty()) d = fmt::format("CLIP {} ({})", m.model, m.flavour);
  if (!m.reference.empty())
    d += fmt::format("; reference {} (n = {})", m.reference,
                     m.reference_n ? std::to_string(m.reference_n) : "?");
  return d;
}

std::string eval_summary(const EvalRecord& d) {
  std::vector<std::string> parts;
  for (const auto& m : d.metrics)
    parts.push_back(fmt::format("{} {}", metric_title(m.name), fmt_num(m.value, 4)));
  return fmt::format("{} (n = {}): {}", d.source.label(), d.n,
                     parts.empty() ? "no metric" : join_limited(parts, 8));
}

bool same_model(const std::string& bench_path, const std::string& eval_path) {
  if (bench_path.empty() || eval_path.empty()) return false;
  const fs::path a = fs::absolute(bench_path).lexically_normal(),
                 b = fs::absolute(eval_path).lexically_normal();
  auto name = [](fs::path p) {
    if (p.filename().empty()) p = p.parent_path();
    return p.filename().string();
  };
  return a == b || name(a) == name(b);
}

}  // namespace

Section eval_section(const Artifact& a, const EvalRecord& d, Context& cx) {
  Section s("Quality: " + d.source.label(), a.path.string());
  const EvalSource& src = d.source;
  if (src.kind == "images")
    s.para(fmt::format("{} images of {}{}; {}.", d.n, src.folder,
                       d.captions.empty() ? "" : ", captions " + d.captions,
                       device_text(d.header)));
  else
    s.para(fmt::format(
        "{} images generated by {}{} from {}: {} {} steps, guidance {}, seed {}{}; {}, {}.", d.n,
        src.model, src.unet.empty() ? "" : " with the UNet " + src.unet, d.captions, src.steps,
        src.sampler.empty() ? "(the pipeline's sampler)" : src.sampler, src.guidance, src.seed,
        src.score_size ? fmt::format(", scored at {} px", src.score_size) : "", d.dtype,
        device_text(d.header)));
  Table t{{"metric", "value", "n", "how"}, {}};
  Csv csv{{"metric", "value", "std", "n", "mode", "dims", "model", "reference", "reference_n",
           "weights_sha256"},
          {}};
  for (const auto& m : d.metrics) {
    t.rows.push_back({metric_title(m.name),
                      m.std ? fmt::format("{} ± {}", fmt_num(m.value, 5), fmt_num(*m.std, 2))
                            : fmt_num(m.value, 5),
                      std::to_string(m.n), metric_detail(m)});
    csv.rows.push_back({m.name, raw(m.value), m.std ? raw(*m.std) : "", std::to_string(m.n), m.mode,
                        m.dims ? std::to_string(m.dims) : "", m.model, m.reference,
                        m.reference_n ? std::to_string(m.reference_n) : "", m.weights_sha256});
  }
  s.table(t);
  if (d.images_per_s > 0)
    s.para(fmt::format("Features: {} images/s ({} s in all, every shard counted).",
                       fmt_num(d.images_per_s, 3), fmt_num(d.features_s, 3)));
  cx.write_csv(s, a, "metrics", csv);
  cx.files->headline.push_back("quality of " + eval_summary(d));
  return s;
}

std::optional<Section> quality_latency_section(const std::vector<Artifact>& all, Context& cx) {
  const BenchResult* bench = cx.first<BenchResult>();
  if (!bench) return std::nullopt;
  std::vector<Point> fid, clip;
  Table t{{"model", "pipeline ms", "UNet ms", "FID", "CLIP score", "IS", "CMMD", "eval.json"}, {}};
  for (const auto& a : all) {
    const EvalRecord* e = a.as<EvalRecord>();
    if (!e || e->source.kind != "generate") continue;
    const std::string path = e->source.unet.empty() ? e->source.model : e->source.unet;
    const ModelBench* m = nullptr;
    for (const auto& b : bench->models)
      if (same_model(b.path, path)) m = &b;
    if (!m) continue;
    const double ms = m->pipeline ? m->pipeline->total_ms.median : m->unet_ms.median;
    auto value = [&](const char* name) {
      const EvalMetric* x = e->find(name);
      return x ? x->value : std::numeric_limits<double>::quiet_NaN();
    };
    if (std::isfinite(value("fid"))) fid.push_back({ms, value("fid"), m->name, m->name, true});
    if (std::isfinite(value("clip_score")))
      clip.push_back({ms, value("clip_score"), m->name, m->name, true});
    t.rows.push_back({m->name, m->pipeline ? fmt_num(ms, 4) : "–", fmt_num(m->unet_ms.median, 4),
                      fmt_num(value("fid"), 4), fmt_num(value("clip_score"), 4),
                      fmt_num(value("inception_score"), 4), fmt_num(value("cmmd"), 4),
                      a.path.filename().string()});
  }
  // The bench's own quality pass (proxy pipelines): every model, students and cache plans (the
  // searched ones and DeepCache's) on the same axes.
  std::vector<Point> proxy_fid, accuracy, psnr, fid_vs_first;
  for (size_t i = 0; i < bench->models.size(); ++i) {
    const ModelBench& m = bench->models[i];
    if (!m.pipeline || !m.quality || !m.quality->classified) continue;
    const double ms = m.pipeline->total_ms.median;
    const std::string group = m.name.rfind("deepcache", 0) == 0 ? "DeepCache"
                              : !m.cache_plan.empty()           ? "cache plan"
                                                                : "model";
    proxy_fid.push_back({ms, fid_of(*m.quality), m.name, group, i == 0});
    accuracy.push_back({ms, accuracy_of(*m.quality), m.name, group, i == 0});
    if (i > 0 && std::isfinite(m.quality->psnr_db))
      psnr.push_back({ms, m.quality->psnr_db, m.name, group, false});
    if (i > 0 && std::isfinite(m.quality->proxy_fid_vs_reference))
      fid_vs_first.push_back({ms, m.quality->proxy_fid_vs_reference, m.name, group, false});
  }
  if (t.rows.empty() && proxy_fid.size() < 2) return std::nullopt;
  Section s("Quality against latency", "bench.json and eval.json");
  const std::string x_label =
      bench->models.empty() || !bench->models[0].pipeline ? "UNet forward (ms)" : "pipeline (ms)";
  if (!t.rows.empty()) {
    s.para(
        "Each model's quality (asdm eval) beside its latency in the same bench.json (whole "
        "pipeline when it was timed, else the UNet forward): the chart a paper prints. Lower FID "
        "and higher CLIP score are better.");
    s.table(t);
    if (!fid.empty()) s.chart(scatter_chart("FID against latency", fid, {}, {x_label}, {"FID"}));
    if (!clip.empty())
      s.chart(scatter_chart("CLIP score against latency", clip, {}, {x_label}, {"CLIP score"}));
  }
  if (proxy_fid.size() >= 2) {
    s.para(fmt::format(
        "The bench's quality pass against its pipeline time, every model on the same axes "
        "(students, cache plans, DeepCache's uniform policy; {0} is the reference, drawn larger). "
        "The proxy FID is against clean renders of the prompts; the proxy FID vs {0} and PSNR are "
        "against {0}'s samples from the same prompts and noise: fidelity to it.",
        bench->models[0].name));
    s.chart(scatter_chart("Mean attribute accuracy against pipeline latency", accuracy, {},
                          {"pipeline (ms)"}, {"mean attribute accuracy"}));
    s.chart(scatter_chart("Proxy FID against pipeline latency", proxy_fid, {}, {"pipeline (ms)"},
                          {"proxy FID"}));
    if (fid_vs_first.size() >= 2)
      s.chart(scatter_chart("Proxy FID vs " + bench->models[0].name + " against pipeline latency",
                            fid_vs_first, {}, {"pipeline (ms)"},
                            {"proxy FID vs " + bench->models[0].name}));
    if (psnr.size() >= 2)
      s.chart(scatter_chart("PSNR against pipeline latency", psnr, {}, {"pipeline (ms)"},
                            {"PSNR vs " + bench->models[0].name + " (dB)"}));
  }
  return s;
}

}  // namespace asdm::reports
