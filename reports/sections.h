#pragma once
// Inside asdm report (reports/report.h): the pieces a section is made of (tables that render as
// HTML and Markdown, CSV files, charts) and one section per artifact type, each from that
// artifact's struct. Torch-free.
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "reports/report.h"

namespace asdm::reports {

// Cells: "–" for a value that is not finite (not measured, not in the artifact).
std::string fmt_num(double v, int digits = 3);
std::string fmt_fixed(double v, int decimals);
std::string fmt_pct(double fraction, int decimals = 1);
std::string fmt_count(double v);  // 1.23 M
std::string fmt_bytes(double v);  // 1.2 MiB
std::string raw(double v);        // a CSV value: full precision, "" when not finite

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string html() const;
  std::string markdown() const;
};

// CSV (RFC 4180 quoting) of raw values.
struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string text() const;
};

// One artifact's part of the report.
struct Section {
  Section(std::string title_, std::string source_)
      : title(std::move(title_)), source(std::move(source_)) {}
  std::string id, title, source;
  std::string html, md;
  int charts = 0;
  void para(const std::string& text);
  void table(const Table& t);
  void chart(const std::string& svg);
};

// What the sections share: the whole set (a section may use another artifact: the importance
// chart draws the search's front), the output folder and the files written so far.
struct Context {
  const std::vector<Artifact>* all = nullptr;
  std::filesystem::path dir;
  ReportFiles* files = nullptr;
  std::set<std::string> used_names;

  // The first artifact of type T in the set, or nullptr.
  template <class T>
  const T* first() const {
    for (const auto& a : *all)
      if (const T* t = a.as<T>()) return t;
    return nullptr;
  }
  // A file name in the report folder, unique across sections: "<type>-<stem>[-what].<ext>".
  std::string name_for(const Artifact& a, const std::string& what, const std::string& ext);
  // Writes the table as CSV and links it from the section.
  void write_csv(Section& s, const Artifact& a, const std::string& what, const Csv& csv);
  // Copies an image next to the report and embeds it.
  void embed_image(Section& s, const Artifact& a, const std::filesystem::path& image,
                   const std::string& caption);
};

Section inspect_section(const Artifact& a, const InspectArtifact& d, Context& cx);
Section profile_section(const Artifact& a, const ProfileArtifact& d, Context& cx);
Section importance_section(const Artifact& a, const ImportanceArtifact& d, Context& cx);
Section candidates_section(const Artifact& a, const CandidateSet& d, Context& cx);
Section bench_section(const Artifact& a, const BenchResult& d, Context& cx);
Section incubation_section(const Artifact& a, const IncubationRecord& d, Context& cx);
Section eval_section(const Artifact& a, const EvalRecord& d, Context& cx);
Section temporal_section(const Artifact& a, const TemporalArtifact& d, Context& cx);
// Every eval.json whose model bench.json timed (its student folder, or its pipeline for the
// teacher): FID and CLIP score against pipeline latency. None when nothing pairs.
std::optional<Section> quality_latency_section(const std::vector<Artifact>& all, Context& cx);

}  // namespace asdm::reports
