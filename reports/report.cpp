#include "reports/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "analysis/importance_io.h"
#include "bench/bench_result.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/unit_id.h"
#include "core/version.h"
#include "incubation/incubation_record.h"
#include "profiler/inspect.h"
#include "profiler/profile_io.h"
#include "pruner/candidates.h"
#include "reports/svg.h"

namespace asdm::reports {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ---- small helpers ---------------------------------------------------------------------------

double num_at(const json& j, const char* key, double fallback = std::nan("")) {
  if (!j.is_object()) return fallback;
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}
std::string str_at(const json& j, const char* key, const std::string& fallback = "") {
  if (!j.is_object()) return fallback;
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}
// The median of a Summary object (profiler/stats.h) under `key`.
double median_at(const json& j, const char* key) {
  return j.is_object() && j.contains(key) ? num_at(j[key], "median") : std::nan("");
}

std::string fmt_num(double v, int digits = 3) {
  if (!std::isfinite(v)) return "–";
  return fmt::format("{:.{}g}", v, digits);
}
std::string fmt_fixed(double v, int decimals) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "–";
}
std::string fmt_pct(double fraction, int decimals = 1) {
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
std::string block_group(const std::string& id) {
  const std::string b = unit_id::block_of(id);
  return b.empty() ? "fixed" : b;
}

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  std::string html() const {
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
  std::string markdown() const {
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
};

// CSV (RFC 4180 quoting) of raw values.
struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string text() const {
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
};
std::string raw(double v) { return std::isfinite(v) ? fmt::format("{:.9g}", v) : ""; }

// One artifact's part of the report.
struct Section {
  Section(std::string title_, std::string source_)
      : title(std::move(title_)), source(std::move(source_)) {}
  std::string id, title, source;
  std::string html, md;
  int charts = 0;
  void para(const std::string& text) {
    html += "<p>" + escape_xml(text) + "</p>\n";
    md += text + "\n\n";
  }
  void table(const Table& t) {
    html += t.html();
    md += t.markdown();
  }
  void chart(const std::string& svg) {
    html += "<figure>" + svg + "</figure>\n";
    ++charts;
  }
};

struct Context {
  const std::vector<Artifact>* all = nullptr;
  fs::path dir;
  ReportFiles* files = nullptr;
  std::set<std::string> used_names;

  const Artifact* first(const std::string& type) const {
    for (const auto& a : *all)
      if (a.type == type) return &a;
    return nullptr;
  }
  // A file name in the report folder, unique across sections: "<type>-<stem>.<ext>".
  std::string name_for(const Artifact& a, const std::string& what, const std::string& ext) {
    std::string base = a.type + "-" + a.path.stem().string() + (what.empty() ? "" : "-" + what);
    for (char& c : base)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
    std::string name = base + "." + ext;
    for (int k = 2; used_names.count(name); ++k) name = fmt::format("{}-{}.{}", base, k, ext);
    used_names.insert(name);
    return name;
  }
  void write_csv(Section& s, const Artifact& a, const std::string& what, const Csv& csv) {
    const std::string name = name_for(a, what, "csv");
    write_file_atomic(dir / name, csv.text());
    files->csv.push_back(dir / name);
    s.html += fmt::format("<p class=\"files\">Table as CSV: <a href=\"{0}\">{0}</a></p>\n",
                          escape_xml(name));
    s.md += fmt::format("CSV: [{0}]({0})\n\n", name);
  }
};

std::string input_text(const json& in) {
  if (!in.is_object()) return "";
  std::string t = fmt::format("batch {}", in.value("batch", 0));
  if (in.contains("resolution")) t += fmt::format(", {}²", in["resolution"].get<int>());
  if (in.contains("latent_height"))
    t += fmt::format(" (latent {}x{})", in.value("latent_height", 0), in.value("latent_width", 0));
  if (in.contains("text_tokens"))
    t += fmt::format(", {} text tokens", in["text_tokens"].get<int>());
  return t;
}
std::string device_text(const json& doc) {
  const json& d = doc.value("device", json::object());
  return fmt::format("{} ({}, {} threads)", d.value("kind", "?"), d.value("name", "?"),
                     d.value("threads", 0));
}

// ---- per artifact type -----------------------------------------------------------------------

Section profile_section(const Artifact& a, Context& cx) {
  const json& d = a.doc;
  Section s("Per-unit latency", a.path.string());
  const double fwd = median_at(d, "forward_ms");
  s.para(fmt::format(
      "{} on {} with the {} backend, {}, {}: forward {} ms median (p10 {}, p90 {}), coverage {}, "
      "the profile's "
      "own overhead {}.",
      str_at(d, "model"), device_text(d), str_at(d, "backend"), str_at(d, "dtype"),
      input_text(d.value("input", json())), fmt_num(fwd, 4),
      fmt_num(num_at(d["forward_ms"], "p10"), 4), fmt_num(num_at(d["forward_ms"], "p90"), 4),
      fmt_pct(num_at(d, "coverage")), fmt_pct(num_at(d, "overhead"))));
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
  for (const auto& u : d.value("units", json::array())) {
    const std::string id = str_at(u, "id"), kind = str_at(u, "kind"), parent = str_at(u, "parent");
    const double self = median_at(u, "exclusive_ms"), incl = median_at(u, "inclusive_ms");
    const double macs = num_at(u, "macs", 0) + num_at(u, "attn_macs", 0),
                 params = num_at(u, "params", 0);
    const double mpg = macs > 0 ? incl / (macs / 1e9) : std::nan("");
    bars.push_back({id, self, block_group(id), num_at(u.value("exclusive_ms", json()), "p10"),
                    num_at(u.value("exclusive_ms", json()), "p90")});
    if (parent.empty() && macs > 0) points.push_back({macs / 1e9, incl, id, kind});
    csv.rows.push_back({id, kind, block_group(id), parent, raw(self),
                        raw(num_at(u.value("exclusive_ms", json()), "p10")),
                        raw(num_at(u.value("exclusive_ms", json()), "p90")), raw(incl),
                        raw(self / fwd), raw(params), raw(num_at(u, "macs", 0)),
                        raw(num_at(u, "attn_macs", 0)), raw(mpg)});
    rows.push_back({id, kind, self, self / fwd, mpg, params, macs});
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

// Latency saved per unit: from the importance file when it was run with a profile, else from a
// profile in the report.
std::map<std::string, double> latency_saved(const json& imp, const Context& cx) {
  std::map<std::string, double> ms;
  for (const auto& r : imp.value("results", json::array()))
    if (std::isfinite(num_at(r, "latency_saved_ms")))
      ms[str_at(r, "id")] = num_at(r, "latency_saved_ms");
  if (!ms.empty()) return ms;
  if (const Artifact* p = cx.first("profile"))
    for (const auto& u : p->doc.value("units", json::array()))
      ms[str_at(u, "id")] = median_at(u, "inclusive_ms");
  return ms;
}

Section importance_section(const Artifact& a, Context& cx) {
  const json& d = a.doc;
  const json& st = d.value("settings", json::object());
  Section s("Importance: what each unit is worth", a.path.string());
  s.para(fmt::format("{}; {} prompts, tier {}, {} timesteps, seed {}{}.", str_at(st, "subject"),
                     st.value("prompts", json::object()).value("count", 0), str_at(st, "tier"),
                     st.value("timesteps", 0), st.value("seed", 0),
                     d.value("complete", true) ? "" : " — an unfinished run (complete: false)"));
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
  for (const auto& r : d.value("results", json::array())) {
    const json& t1 = r.value("tier1", json::object());
    const json& nm = t1.value("nmse", json::object());
    const json ci = nm.value("ci95", json::array());
    Row row{str_at(r, "id"),
            str_at(r, "kind"),
            num_at(nm, "mean"),
            ci.size() == 2 ? ci[0].get<double>() : std::nan(""),
            ci.size() == 2 ? ci[1].get<double>() : std::nan(""),
            num_at(t1.value("cosine", json::object()), "mean"),
            num_at(r.value("tier2", json::object()).value("ssim_loss", json::object()), "mean"),
            std::nan("")};
    if (const auto it = saved.find(row.id); it != saved.end()) row.ms = it->second;
    rows.push_back(row);
    csv.rows.push_back({row.id, row.kind, raw(row.nmse), raw(row.lo), raw(row.hi), raw(row.cosine),
                        raw(row.tier2), raw(row.ms)});
    if (std::isfinite(row.ms) && std::isfinite(row.nmse))
      points.push_back({row.ms, row.nmse, row.id, block_group(row.id)});
  }
  if (!points.empty()) {
    std::vector<Series> lines;
    const Artifact* cand = cx.first("candidates");
    if (cand) {
      // The search's front on the same axes: a removal set's latency saved and summed loss.
      const double teacher_ms = num_at(cand->doc.value("teacher", json::object()), "forward_ms");
      Series front{"Pareto front (removal sets)", {}, {}, true};
      for (const auto& f : cand->doc.value("front", json::array())) {
        front.xs.push_back(num_at(f, "speedup") * teacher_ms);
        front.ys.push_back(num_at(f, "loss"));
      }
      lines.push_back(front);
      for (const auto& c : cand->doc.value("candidates", json::array()))
        points.push_back({num_at(c, "predicted_speedup") * teacher_ms, num_at(c, "predicted_loss"),
                          str_at(c, "name"), "candidates", true});
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

Section candidates_section(const Artifact& a, Context& cx) {
  const json& d = a.doc;
  const json& te = d.value("teacher", json::object());
  const json& op = d.value("options", json::object());
  Section s("Candidates under the latency budget", a.path.string());
  s.para(fmt::format(
      "Teacher {} at {} ms (profile median; {}); target speed-up {}, best reachable {}; loss = {}.",
      str_at(te, "model"), fmt_num(num_at(te, "forward_ms"), 4),
      input_text(te.value("input", json())), fmt_pct(num_at(op, "target_speedup")),
      fmt_pct(num_at(d, "best_reachable_speedup")), str_at(d, "predicted_loss")));
  Series front{"Pareto front", {}, {}, true};
  for (const auto& f : d.value("front", json::array())) {
    front.xs.push_back(num_at(f, "speedup"));
    front.ys.push_back(num_at(f, "loss"));
  }
  std::vector<Point> points;
  Table t{{"candidate", "removed", "edits", "predicted ms", "predicted speed-up",
           "measured speed-up", "error", "predicted loss", "params", "MACs"},
          {}};
  Csv csv{
      {"candidate", "removed", "clme", "gri", "predicted_ms", "predicted_speedup", "measured_ms",
       "measured_speedup", "prediction_error", "predicted_loss", "params", "macs", "removed_units"},
      {}};
  for (const auto& c : d.value("candidates", json::array())) {
    int clme = 0, gri = 0;
    for (const auto& e : c.value("arch", json::object()).value("edits", json::array())) {
      clme += str_at(e, "op") == "clme";
      gri += str_at(e, "op") == "gri";
    }
    const auto removed = c.value("removed", json::array());
    std::string removed_list;
    for (const auto& r : removed)
      removed_list += (removed_list.empty() ? "" : " ") + r.get<std::string>();
    const double measured = num_at(c, "measured_speedup");
    points.push_back({num_at(c, "predicted_speedup"), num_at(c, "predicted_loss"),
                      str_at(c, "name"), "candidates (predicted)", true});
    if (std::isfinite(measured))
      points.push_back({measured, num_at(c, "predicted_loss"), str_at(c, "name") + " measured",
                        "candidates (measured)"});
    t.rows.push_back(
        {str_at(c, "name") + (c.value("refined", false) ? " (refined)" : ""),
         std::to_string(removed.size()),
         clme || gri ? fmt::format("{} CLME, {} GRI", clme, gri) : std::string("removals"),
         fmt_num(num_at(c, "predicted_ms"), 4), fmt_pct(num_at(c, "predicted_speedup")),
         fmt_pct(measured), fmt_pct(num_at(c, "prediction_error")),
         fmt_num(num_at(c, "predicted_loss"), 3), fmt_count(num_at(c, "params")),
         fmt_count(num_at(c, "macs"))});
    csv.rows.push_back({str_at(c, "name"), std::to_string(removed.size()), std::to_string(clme),
                        std::to_string(gri), raw(num_at(c, "predicted_ms")),
                        raw(num_at(c, "predicted_speedup")), raw(median_at(c, "measured_ms")),
                        raw(measured), raw(num_at(c, "prediction_error")),
                        raw(num_at(c, "predicted_loss")), raw(num_at(c, "params")),
                        raw(num_at(c, "macs")), removed_list});
  }
  s.chart(scatter_chart(
      "Pareto front: predicted loss against speed-up, with the emitted candidates", points, {front},
      {"UNet speed-up (fraction of the teacher's latency saved)", false},
      {"predicted loss", true}));
  s.table(t);
  if (d.contains("validation")) {
    const json& v = d["validation"];
    s.para(fmt::format("Predictor check on {} random removal sets: mean |error| {}, max {}.",
                       v.value("sets", json::array()).size(), fmt_pct(num_at(v, "mean_abs_error")),
                       fmt_pct(num_at(v, "max_abs_error"))));
  }
  cx.write_csv(s, a, "candidates", csv);
  return s;
}

// Copies an image next to the report and embeds it.
void embed_image(Section& s, Context& cx, const Artifact& a, const fs::path& image,
                 const std::string& caption) {
  const fs::path src = image.is_absolute() ? image : a.path.parent_path() / image;
  if (!fs::exists(src)) {
    s.para(fmt::format("(sample grid {} not found)", src.string()));
    return;
  }
  const std::string bytes = read_text_file(src);
  const std::string name = cx.name_for(a, "samples-" + src.stem().string(), "png");
  write_file_atomic(cx.dir / name, bytes);
  cx.files->images.push_back(cx.dir / name);
  s.html += fmt::format(
      "<figure><img class=\"samples\" alt=\"{0}\" "
      "src=\"data:image/png;base64,{1}\"><figcaption>{0}</figcaption></figure>\n",
      escape_xml(caption), base64(bytes));
  s.md += fmt::format("![{0}]({1})\n\n", caption, name);
}

Section bench_section(const Artifact& a, Context& cx) {
  const json& d = a.doc;
  const json& st = d.value("settings", json::object());
  Section s("Benchmark: teacher against students", a.path.string());
  const json models = d.value("models", json::array());
  s.para(
      fmt::format("{}; UNet at {}, {} interleaved rounds; pipeline {} steps of {} (guidance {}); "
                  "quality on {} prompts. Speed-ups "
                  "are ratios of medians from the same interleaved run, against {}.",
                  device_text(d), input_text(st.value("input", json())), st.value("runs", 0),
                  st.value("steps", 0), str_at(st, "sampler"), num_at(st, "guidance"),
                  st.value("quality_prompts", 0), models.empty() ? "" : str_at(models[0], "name")));
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
    const std::string name = str_at(m, "name");
    const json& u = m.value("unet_ms", json::object());
    const json& p = m.value("pipeline", json::object());
    const json& mem = m.value("memory", json::object());
    const json& q = m.value("quality", json::object());
    const double peak = num_at(mem, "unet_peak_bytes");
    speed.rows.push_back(
        {name,
         fmt::format("{} ({}–{})", fmt_num(num_at(u, "median"), 4), fmt_num(num_at(u, "p10"), 4),
                     fmt_num(num_at(u, "p90"), 4)),
         fmt_pct(num_at(m, "unet_speedup")), fmt_num(median_at(p, "total_ms"), 4),
         fmt_num(median_at(p, "text_encoder_ms"), 3), fmt_num(median_at(p, "unet_steps_ms"), 4),
         fmt_num(median_at(p, "decoder_ms"), 3), fmt_pct(num_at(p, "speedup")), fmt_bytes(peak),
         fmt_count(num_at(m, "params")), fmt_count(num_at(m, "macs"))});
    if (!q.empty())
      quality.rows.push_back({name, fmt_fixed(num_at(q, "mean_attribute_accuracy"), 3),
                              fmt_fixed(num_at(q, "all_attributes_correct"), 3),
                              fmt_num(num_at(q, "proxy_fid"), 4),
                              fmt_fixed(num_at(q, "psnr_vs_reference_db"), 2),
                              fmt_fixed(num_at(q, "ssim_vs_reference"), 4)});
    csv.rows.push_back({name,
                        str_at(m, "path"),
                        raw(num_at(u, "median")),
                        raw(num_at(u, "p10")),
                        raw(num_at(u, "p90")),
                        raw(num_at(m, "unet_speedup")),
                        raw(median_at(p, "total_ms")),
                        raw(median_at(p, "text_encoder_ms")),
                        raw(median_at(p, "unet_steps_ms")),
                        raw(median_at(p, "decoder_ms")),
                        raw(num_at(p, "speedup")),
                        raw(peak),
                        raw(num_at(mem, "weights_bytes")),
                        raw(num_at(m, "params")),
                        raw(num_at(m, "macs")),
                        raw(num_at(q, "mean_attribute_accuracy")),
                        raw(num_at(q, "all_attributes_correct")),
                        raw(num_at(q, "proxy_fid")),
                        raw(num_at(q, "psnr_vs_reference_db")),
                        raw(num_at(q, "ssim_vs_reference"))});
    unet_bars.push_back({name, num_at(u, "median"), name, num_at(u, "p10"), num_at(u, "p90")});
    if (p.is_object() && p.contains("total_ms"))
      pipe_bars.push_back({name, median_at(p, "total_ms"), name, num_at(p["total_ms"], "p10"),
                           num_at(p["total_ms"], "p90")});
    if (models.size() > 1 && &m != &models[0]) {
      std::string line = fmt::format("{}: UNet {} faster than {}", name,
                                     fmt_pct(num_at(m, "unet_speedup")), str_at(models[0], "name"));
      if (std::isfinite(num_at(p, "speedup")))
        line += fmt::format(", pipeline {} faster", fmt_pct(num_at(p, "speedup")));
      const json& q0 = models[0].value("quality", json::object());
      if (!q.empty() && !q0.empty() && q.contains("mean_attribute_accuracy"))
        line +=
            fmt::format("; mean attribute accuracy {} (reference {}), proxy FID {} ({})",
                        fmt_fixed(num_at(q, "mean_attribute_accuracy"), 3),
                        fmt_fixed(num_at(q0, "mean_attribute_accuracy"), 3),
                        fmt_num(num_at(q, "proxy_fid"), 4), fmt_num(num_at(q0, "proxy_fid"), 4));
      else if (!q.empty())  // no classifier (real pipelines): closeness to the reference's images
        line += fmt::format("; images against {}'s: PSNR {} dB, SSIM {}", str_at(models[0], "name"),
                            fmt_num(num_at(q, "psnr_vs_reference_db"), 4),
                            fmt_fixed(num_at(q, "ssim_vs_reference"), 3));
      cx.files->headline.push_back(line);
    }
  }
  s.table(speed);
  s.chart(bar_chart("UNet forward latency (median, whiskers p10–p90)", unet_bars, "ms"));
  if (!pipe_bars.empty())
    s.chart(bar_chart("Whole pipeline latency (median, whiskers p10–p90)", pipe_bars, "ms"));
  if (!quality.rows.empty()) s.table(quality);
  for (const auto& m : models)
    if (m.contains("samples_grid"))
      embed_image(s, cx, a, fs::path(str_at(m, "samples_grid")), "samples: " + str_at(m, "name"));
  cx.write_csv(s, a, "models", csv);
  return s;
}

// The incubation log (JSON lines): where incubation.json says, else beside it.
std::vector<json> read_log(const Artifact& a) {
  std::vector<json> rows;
  fs::path log = str_at(a.doc, "log");
  if (log.empty() || !fs::exists(log))
    log = a.path.parent_path() / (log.empty() ? fs::path("incubation.jsonl") : log.filename());
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) rows.push_back(std::move(j));
  }
  return rows;
}

Section incubation_section(const Artifact& a, Context& cx) {
  const json& d = a.doc;
  Section s("Incubation: training the student back", a.path.string());
  s.para(fmt::format("Student {} from teacher {}: {} steps in {} s on {}.", str_at(d, "student"),
                     str_at(d, "teacher"), d.value("steps", 0), fmt_num(num_at(d, "seconds"), 4),
                     device_text(d)));
  const auto log = read_log(a);
  if (!log.empty()) {
    // Moving averages keep the curves readable; the raw values are in the log.
    const size_t window = std::max<size_t>(1, log.size() / 60);
    std::vector<Series> series;
    for (const char* key :
         {"loss_total", "loss_task", "loss_output", "loss_feature", "loss_semantic"}) {
      Series sr{key, {}, {}, false};
      double acc = 0;
      std::vector<double> buf;
      for (const auto& r : log) {
        const double v = num_at(r, key);
        if (!std::isfinite(v)) continue;
        buf.push_back(v);
        acc += v;
        if (buf.size() > window) acc -= buf[buf.size() - window - 1];
        sr.xs.push_back(num_at(r, "global_step"));
        sr.ys.push_back(acc / std::min(buf.size(), window));
      }
      if (!sr.xs.empty()) series.push_back(std::move(sr));
    }
    s.chart(line_chart(fmt::format("Training losses (moving average over {} steps)", window),
                       series, {"step", false}, {"loss", true}));
    std::vector<std::string> phases;
    for (const auto& r : log)
      if (phases.empty() || phases.back() != str_at(r, "phase"))
        phases.push_back(str_at(r, "phase"));
    s.para("Phases in order: " + [&] {
      std::string t;
      for (const auto& p : phases) t += (t.empty() ? "" : " → ") + p;
      return t;
    }());
  } else {
    s.para("The training log (incubation.jsonl) was not found beside the artifact.");
  }
  if (d.contains("eval") && d["eval"].is_object()) {
    Table t{{"model", "mean attribute accuracy", "all correct", "proxy FID", "PSNR vs teacher (dB)",
             "SSIM vs teacher"},
            {}};
    Csv csv{{"model", "mean_attribute_accuracy", "all_attributes_correct", "proxy_fid",
             "psnr_vs_teacher_db", "ssim_vs_teacher"},
            {}};
    for (const auto& [name, e] : d["eval"].items()) {
      t.rows.push_back({name, fmt_fixed(num_at(e, "mean_attribute_accuracy"), 3),
                        fmt_fixed(num_at(e, "all_attributes_correct"), 3),
                        fmt_num(num_at(e, "proxy_fid"), 4),
                        fmt_fixed(num_at(e, "psnr_vs_teacher_db"), 2),
                        fmt_fixed(num_at(e, "ssim_vs_teacher"), 4)});
      csv.rows.push_back({name, raw(num_at(e, "mean_attribute_accuracy")),
                          raw(num_at(e, "all_attributes_correct")), raw(num_at(e, "proxy_fid")),
                          raw(num_at(e, "psnr_vs_teacher_db")), raw(num_at(e, "ssim_vs_teacher"))});
    }
    s.table(t);
    cx.write_csv(s, a, "eval", csv);
  }
  return s;
}

Section inspect_section(const Artifact& a, Context& cx) {
  const json& d = a.doc;
  const json& tot = d.value("totals", json::object());
  Section s("Model: parameters and MACs", a.path.string());
  s.para(fmt::format(
      "{} at {}: {} parameters, {} MACs ({} with the attention matmuls). Counting rule: {}.",
      str_at(d, "model"), input_text(d.value("input", json())), fmt_count(num_at(tot, "params")),
      fmt_count(num_at(tot, "macs")), fmt_count(num_at(tot, "macs_with_attn")),
      str_at(d, "macs_rule")));
  std::vector<Bar> bars;
  Csv csv{{"unit", "kind", "block", "params", "macs", "attn_macs", "removed"}, {}};
  for (const auto& u : d.value("units", json::array())) {
    const std::string id = str_at(u, "id");
    if (!str_at(u, "parent").empty()) continue;
    bars.push_back({id, (num_at(u, "macs", 0) + num_at(u, "attn_macs", 0)) / 1e9, block_group(id)});
    csv.rows.push_back({id, str_at(u, "kind"), block_group(id), raw(num_at(u, "params", 0)),
                        raw(num_at(u, "macs", 0)), raw(num_at(u, "attn_macs", 0)),
                        u.value("removed", false) ? "true" : "false"});
  }
  s.chart(bar_chart("MACs per unit (attention matmuls included), coloured by block", bars, "GMAC"));
  cx.write_csv(s, a, "units", csv);
  return s;
}

const char* kCss = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.source,.files,footer{color:#666;font-size:.9em}table{border-collapse:collapse;margin:1em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}th{background:#f4f4f4}tr:nth-child(even) td{background:#fafafa}
figure{margin:1em 0}svg.chart{max-width:100%;height:auto;background:#fff;border:1px solid #eee}
svg .title{font-weight:600;font-size:13px}svg .tick,svg .legend{font-size:10px;fill:#444}svg .label{font-size:11px;fill:#222}
svg .axis{stroke:#444}svg .grid{stroke:#eee}svg .line{stroke-width:1.6}svg .whisker{stroke:#333;stroke-width:1}
svg .point{stroke:#fff;stroke-width:.8}img.samples{image-rendering:pixelated;max-width:100%;border:1px solid #eee}
ul.headline{background:#f6f8fa;padding:.8em 1.5em;border-radius:6px}nav a{margin-right:1em}
)";

// Counts what rendered (charts with a laid-out box and marks, decoded images) into
// <body data-rendered="charts N/M images K/L">, for the headless-browser test and for anyone
// checking a report in a browser's console.
const char* kRenderCheck = R"(<script>
window.addEventListener('load', function () {
  var charts = document.querySelectorAll('svg.chart'), ok = 0;
  charts.forEach(function (s) { var b = s.getBBox(); if (b.width > 0 && b.height > 0 && s.querySelector('rect.bar,circle.point,polyline.line')) ok++; });
  var imgs = document.querySelectorAll('img.samples'), iok = 0;
  imgs.forEach(function (i) { if (i.complete && i.naturalWidth > 0) iok++; });
  document.body.setAttribute('data-rendered', 'charts ' + ok + '/' + charts.length + ' images ' + iok + '/' + imgs.length);
});
</script>)";

}  // namespace

const std::map<std::string, int>& report_schemas() {
  // Each writer's struct owns its version (DESIGN.md §8).
  static const std::map<std::string, int> kSchemas = {
      {InspectArtifact::kArtifact, InspectArtifact::kSchemaVersion},
      {ProfileArtifact::kArtifact, ProfileArtifact::kSchemaVersion},
      {"importance", kImportanceSchemaVersion},
      {CandidateSet::kArtifact, CandidateSet::kSchemaVersion},
      {BenchResult::kArtifact, BenchResult::kSchemaVersion},
      {IncubationRecord::kArtifact, IncubationRecord::kSchemaVersion}};
  return kSchemas;
}

Artifact read_artifact(const fs::path& path) {
  Artifact a;
  a.path = path;
  a.doc = read_json_file(path);
  if (!a.doc.is_object() || !a.doc.contains("artifact") || !a.doc["artifact"].is_string())
    fail("{}: not an asdm artifact (no \"artifact\" field)", path.string());
  a.type = a.doc["artifact"].get<std::string>();
  for (const char* key : {"schema_version", "asdm_version", "git_commit", "argv", "device",
                          "torch_version", "created"})
    if (!a.doc.contains(key))
      fail("{}: the {} artifact has no \"{}\" (every asdm artifact carries it)", path.string(),
           a.type, key);
  if (!a.doc["schema_version"].is_number_integer())
    fail("{}: \"schema_version\" is not an integer", path.string());
  a.schema_version = a.doc["schema_version"].get<int>();
  const auto& schemas = report_schemas();
  const auto it = schemas.find(a.type);
  if (it == schemas.end()) {
    std::vector<std::string> known;
    for (const auto& [k, v] : schemas) known.push_back(k);
    fail("{}: asdm report does not read {} artifacts; it reads {}", path.string(), a.type,
         join_limited(known));
  }
  if (a.schema_version != it->second)
    fail(
        "{}: a {} artifact of schema version {}; this asdm reads {} version {} (use the asdm that "
        "wrote it, or re-run that step)",
        path.string(), a.type, a.schema_version, a.type, it->second);
  return a;
}

std::string base64(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v =
        (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s : {18, 12, 6, 0}) out += kAlphabet[(v >> s) & 63];
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (rest == 2 ? uint8_t(bytes[i + 1]) << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

ReportFiles write_report(const std::vector<Artifact>& artifacts, const fs::path& dir,
                         const ReportOptions& options) {
  if (artifacts.empty()) fail("no artifacts to report on");
  fs::create_directories(dir);
  ReportFiles files;
  Context cx{&artifacts, dir, &files, {"report.html", "report.md"}};
  // Sections in the order of the method: model, latency, importance, search, training, bench.
  static const std::vector<std::string> kOrder = {"bench",      "inspect",    "profile",
                                                  "importance", "candidates", "incubation"};
  std::vector<Section> sections;
  for (const auto& type : kOrder)
    for (const auto& a : artifacts) {
      if (a.type != type) continue;
      Section s = type == "profile"      ? profile_section(a, cx)
                  : type == "importance" ? importance_section(a, cx)
                  : type == "candidates" ? candidates_section(a, cx)
                  : type == "bench"      ? bench_section(a, cx)
                  : type == "incubation" ? incubation_section(a, cx)
                                         : inspect_section(a, cx);
      s.id = fmt::format("s{}", sections.size() + 1);
      sections.push_back(std::move(s));
    }

  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
      "charset=\"utf-8\"><title>{}</title><style>{}</style></head><body>\n<h1>{}</h1>\n",
      escape_xml(options.title), kCss, escape_xml(options.title));
  std::string md = "# " + options.title + "\n\n";
  if (!files.headline.empty()) {
    html += "<ul class=\"headline\">";
    for (const auto& h : files.headline) {
      html += "<li>" + escape_xml(h) + "</li>";
      md += "- " + h + "\n";
    }
    html += "</ul>\n";
    md += "\n";
  }
  html += "<nav>";
  for (const auto& s : sections)
    html += fmt::format("<a href=\"#{}\">{}</a>", s.id, escape_xml(s.title));
  html += "</nav>\n";
  for (const auto& s : sections) {
    html +=
        fmt::format("<section id=\"{}\"><h2>{}</h2><p class=\"source\">from {}</p>\n{}</section>\n",
                    s.id, escape_xml(s.title), escape_xml(s.source), s.html);
    md += fmt::format("## {}\n\nFrom `{}`.\n\n{}", s.title, s.source, s.md);
    files.charts += s.charts;
  }
  if (files.charts) md += "The charts are in report.html.\n\n";
  std::string made = "asdm";
  for (size_t i = 1; i < options.argv.size(); ++i) made += " " + options.argv[i];
  html += fmt::format(
      "<footer><p>Made by asdm {} ({}) on {}: <code>{}</code></p></footer>\n{}\n</body></html>\n",
      escape_xml(std::string(version())), escape_xml(std::string(git_commit())), utc_now_iso8601(),
      escape_xml(made), kRenderCheck);
  files.html = dir / "report.html";
  files.markdown = dir / "report.md";
  write_file_atomic(files.html, html);
  write_file_atomic(files.markdown, md);
  return files;
}

}  // namespace asdm::reports
