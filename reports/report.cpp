#include "reports/report.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/version.h"
#include "reports/sections.h"
#include "reports/svg.h"

namespace asdm::reports {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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
      {ImportanceArtifact::kArtifact, ImportanceArtifact::kSchemaVersion},
      {CandidateSet::kArtifact, CandidateSet::kSchemaVersion},
      {BenchResult::kArtifact, BenchResult::kSchemaVersion},
      {IncubationRecord::kArtifact, IncubationRecord::kSchemaVersion},
      {EvalRecord::kArtifact, EvalRecord::kSchemaVersion},
      {TemporalArtifact::kArtifact, TemporalArtifact::kSchemaVersion}};
  return kSchemas;
}

const ArtifactHeader& Artifact::header() const {
  return std::visit([](const auto& b) -> const ArtifactHeader& { return b.header; }, body);
}

Artifact read_artifact(const fs::path& path) {
  Artifact a;
  a.path = path;
  const json doc = read_json_file(path);
  if (!doc.is_object() || !doc.contains("artifact") || !doc["artifact"].is_string())
    fail("{}: not an asdm artifact (no \"artifact\" field)", path.string());
  a.type = doc["artifact"].get<std::string>();
  for (const char* key : {"schema_version", "asdm_version", "git_commit", "argv", "device",
                          "torch_version", "created"})
    if (!doc.contains(key))
      fail("{}: the {} artifact has no \"{}\" (every asdm artifact carries it)", path.string(),
           a.type, key);
  if (!doc["schema_version"].is_number_integer())
    fail("{}: \"schema_version\" is not an integer", path.string());
  a.schema_version = doc["schema_version"].get<int>();
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
  // Every field through the writer's struct: a missing or mistyped field names the file.
  const std::string source = path.string();
  if (a.type == InspectArtifact::kArtifact)
    a.body = InspectArtifact::from_json(doc, source);
  else if (a.type == ProfileArtifact::kArtifact)
    a.body = ProfileArtifact::from_json(doc, source);
  else if (a.type == ImportanceArtifact::kArtifact)
    a.body = ImportanceArtifact::from_json(doc, source);
  else if (a.type == CandidateSet::kArtifact)
    a.body = CandidateSet::from_json(doc, source);
  else if (a.type == BenchResult::kArtifact)
    a.body = BenchResult::from_json(doc, source);
  else if (a.type == EvalRecord::kArtifact)
    a.body = EvalRecord::from_json(doc, source);
  else if (a.type == TemporalArtifact::kArtifact)
    a.body = TemporalArtifact::from_json(doc, source);
  else
    a.body = IncubationRecord::from_json(doc, source);
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
  static const std::vector<std::string> kOrder = {
      "bench", "eval", "inspect", "profile", "importance", "temporal", "candidates", "incubation"};
  std::vector<Section> sections;
  for (const auto& type : kOrder)
    for (const auto& a : artifacts) {
      if (a.type != type) continue;
      Section s = std::visit(
          [&](const auto& body) {
            using T = std::decay_t<decltype(body)>;
            if constexpr (std::is_same_v<T, InspectArtifact>)
              return inspect_section(a, body, cx);
            else if constexpr (std::is_same_v<T, ProfileArtifact>)
              return profile_section(a, body, cx);
            else if constexpr (std::is_same_v<T, ImportanceArtifact>)
              return importance_section(a, body, cx);
            else if constexpr (std::is_same_v<T, CandidateSet>)
              return candidates_section(a, body, cx);
            else if constexpr (std::is_same_v<T, BenchResult>)
              return bench_section(a, body, cx);
            else if constexpr (std::is_same_v<T, EvalRecord>)
              return eval_section(a, body, cx);
            else if constexpr (std::is_same_v<T, TemporalArtifact>)
              return temporal_section(a, body, cx);
            else
              return incubation_section(a, body, cx);
          },
          a.body);
      s.id = fmt::format("s{}", sections.size() + 1);
      sections.push_back(std::move(s));
    }
  // After the eval sections: quality against latency, for the models bench.json timed.
  if (auto q = quality_latency_section(artifacts, cx)) {
    q->id = fmt::format("s{}", sections.size() + 1);
    const auto after = std::count_if(artifacts.begin(), artifacts.end(), [](const Artifact& a) {
      return a.type == BenchResult::kArtifact || a.type == EvalRecord::kArtifact;
    });
    sections.insert(sections.begin() + after, std::move(*q));
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
