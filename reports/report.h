#pragma once
// asdm report: from any set of asdm's JSON artifacts (inspect, profile, importance, candidates,
// bench, incubation, eval), one self-contained report.html (inline SVG charts, embedded sample
// grids, no network or scripts needed to read it), report.md for pull requests, and CSV tables.
// Torch-free: every artifact is read through the struct of the stage that writes it (DESIGN.md §8).
#include <filesystem>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "analysis/importance.h"
#include "analysis/temporal_record.h"
#include "bench/bench_result.h"
#include "eval/eval_record.h"
#include "incubation/incubation_record.h"
#include "profiler/inspect.h"
#include "profiler/profile_io.h"
#include "pruner/candidates.h"

namespace asdm::reports {

struct Artifact {
  std::filesystem::path path;
  std::string type;  // the artifact's "artifact" field: "profile", "bench", ...
  int schema_version = 0;
  std::variant<InspectArtifact, ProfileArtifact, ImportanceArtifact, CandidateSet, BenchResult,
               IncubationRecord, EvalRecord, TemporalArtifact>
      body;

  template <class T>
  const T* as() const {
    return std::get_if<T>(&body);
  }
  const ArtifactHeader& header() const;
};

// The artifact types `asdm report` reads, with the schema version it reads for each.
const std::map<std::string, int>& report_schemas();

// Reads one artifact and checks it: valid JSON, DESIGN.md §8's common fields, a type the report
// reads and its schema version, then every field through that type's struct. Throws asdm::Error
// naming the file and what is wrong.
Artifact read_artifact(const std::filesystem::path& path);

struct ReportOptions {
  std::string title = "asdm report";
  std::vector<std::string> argv;  // the command that made the report, shown in its footer
};

struct ReportFiles {
  std::filesystem::path html, markdown;
  std::vector<std::filesystem::path> csv, images;
  int charts = 0;  // SVG charts in report.html
  std::vector<std::string>
      headline;  // the report's key findings, one line each (also printed by the CLI)
};

// Writes report.html, report.md, the CSV tables and the sample-grid images into `dir` (created).
// Artifacts may come in any order; several of one type get a section each.
ReportFiles write_report(const std::vector<Artifact>& artifacts, const std::filesystem::path& dir,
                         const ReportOptions& options = {});

// Base64 (RFC 4648, with padding), for images embedded in the HTML.
std::string base64(const std::string& bytes);

}  // namespace asdm::reports
