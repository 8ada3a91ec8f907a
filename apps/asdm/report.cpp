// asdm report: report.html (inline SVG charts, embedded sample grids), report.md and CSV tables
// from any set of asdm artifacts (reports/report.h).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "apps/asdm/cli_util.h"
#include "apps/asdm/commands.h"
#include "core/log.h"
#include "reports/report.h"

namespace asdm::cli {
namespace {

struct ReportCli {
  std::vector<std::string> artifacts;
  std::string output, title = "asdm report";
};

void run_report(const ReportCli& o, const std::vector<std::string>& argv) {
  std::vector<reports::Artifact> artifacts;
  for (const auto& p : o.artifacts) artifacts.push_back(reports::read_artifact(p));
  reports::ReportOptions ro;
  ro.title = o.title;
  ro.argv = argv;
  const reports::ReportFiles f = reports::write_report(artifacts, o.output, ro);
  for (const auto& h : f.headline) std::printf("%s\n", h.c_str());
  log::info("wrote {} ({} charts, {} sample grids), {} and {} CSV tables", f.html.string(),
            f.charts, f.images.size(), f.markdown.string(), f.csv.size());
}

}  // namespace

void add_report(CLI::App& app, const std::vector<std::string>& argv) {
  auto o = std::make_shared<ReportCli>();
  auto* sub = app.add_subcommand("report",
                                 "Write a report from asdm artifacts (inspect.json, profile.json, "
                                 "importance.json, candidates.json,\n"
                                 "bench.json, incubation.json, eval.json, temporal.json; any set, "
                                 "any order): "
                                 "report.html, "
                                 "self-contained (inline SVG charts:\n"
                                 "per-unit latency by block, latency against MACs, importance "
                                 "against latency with the Pareto front,\n"
                                 "candidates, reuse cost per unit and per call, training curves "
                                 "from incubation.jsonl, speed/quality "
                                 "tables, FID and CLIP score\n"
                                 "against latency for the models of bench.json that eval.json "
                                 "scored, sample grids embedded; opens\n"
                                 "without network), report.md for pull requests, and every table "
                                 "as CSV. Artifacts from another schema\n"
                                 "version are refused with the version this asdm reads.");
  sub->add_option("artifacts", o->artifacts, "JSON artifacts")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("-o,--output", o->output, "Output folder")->required()->check(output_folder());
  sub->add_option("--title", o->title, "Report title")->capture_default_str();
  sub->callback([o, argv] { run_report(*o, argv); });
}

}  // namespace asdm::cli
