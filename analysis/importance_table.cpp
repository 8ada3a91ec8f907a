// The tables asdm ablate prints from an importance.json (analysis/ablation.h).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/printf.h>

#include "analysis/ablation.h"
#include "analysis/importance.h"
#include "analysis/temporal_record.h"
#include "core/artifact.h"

namespace asdm {
namespace {

std::string num(double v, const char* f = "{:.4g}") {
  return std::isnan(v) ? std::string("-") : fmt::format(fmt::runtime(f), v);
}

}  // namespace

std::vector<ImportanceRow> importance_rows(const ImportanceArtifact& doc) {
  const double nan = std::nan("");
  std::vector<ImportanceRow> rows;
  for (const auto& r : doc.results) {
    ImportanceRow row;
    row.id = r.id;
    row.kind = r.kind;
    row.tier1 = r.tier1 ? r.tier1->nmse.mean : nan;
    row.tier1_low = r.tier1 ? r.tier1->nmse.ci_low : nan;
    row.tier1_high = r.tier1 ? r.tier1->nmse.ci_high : nan;
    row.cosine = r.tier1 ? r.tier1->cosine.mean : nan;
    row.tier2 = r.tier2 ? r.tier2->ssim_loss.mean : nan;
    row.psnr_db = r.tier2 ? r.tier2->psnr_db.mean : nan;
    row.quality_delta =
        r.tier2 && r.tier2->quality_delta && r.tier2->quality_delta->count("mean_accuracy")
            ? r.tier2->quality_delta->at("mean_accuracy")
            : nan;
    row.saved_ms = r.latency_saved_ms.value_or(nan);
    row.tier1_per_ms = r.tier1_per_ms.value_or(nan);
    rows.push_back(row);
  }
  return rows;
}

std::string importance_table(const ImportanceArtifact& doc, int max_rows) {
  std::string out;
  auto rows = importance_rows(doc);
  const bool t1 =
      std::any_of(rows.begin(), rows.end(), [](const auto& r) { return !std::isnan(r.tier1); });
  const bool per_ms = std::any_of(rows.begin(), rows.end(),
                                  [](const auto& r) { return !std::isnan(r.tier1_per_ms); });
  const bool quality = std::any_of(rows.begin(), rows.end(),
                                   [](const auto& r) { return !std::isnan(r.quality_delta); });
  const bool t2 =
      std::any_of(rows.begin(), rows.end(), [](const auto& r) { return !std::isnan(r.tier2); });
  auto key = [&](const ImportanceRow& r) { return t1 ? r.tier1 : r.tier2; };
  std::stable_sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) {
    const double x = key(a), y = key(b);
    return std::isnan(y) ? !std::isnan(x) : (!std::isnan(x) && x > y);
  });
  auto print = [&](const std::vector<ImportanceRow>& rs, const char* title) {
    out += fmt::sprintf("%s\n%4s  %-44s %-17s", title, "rank", "unit", "kind");
    if (t1) out += fmt::sprintf(" %10s %-21s %7s", "tier1 nMSE", "  95% CI", "cosine");
    if (t2) out += fmt::sprintf(" %8s %7s", "1-SSIM", "PSNR");
    if (quality) out += fmt::sprintf(" %8s", "d acc");
    if (per_ms) out += fmt::sprintf(" %8s %10s", "saved ms", "nMSE/ms");
    out += fmt::sprintf("\n");
    int k = 0;
    for (const auto& r : rs) {
      if (max_rows > 0 && k >= max_rows) break;
      const std::string ci = std::isnan(r.tier1_low)
                                 ? ""
                                 : fmt::format("  [{:.3g}, {:.3g}]", r.tier1_low, r.tier1_high);
      std::string id = r.id;
      if (id.size() > 44) {  // long groups: the first units and a count
        const std::string more =
            fmt::format("... ({} units)", std::count(id.begin(), id.end(), '+') + 1);
        id = id.substr(0, 44 - more.size()) + more;
      }
      out += fmt::sprintf("%4d  %-44s %-17s", ++k, id.c_str(), r.kind.c_str());
      if (t1)
        out += fmt::sprintf(" %10s %-21s %7s", num(r.tier1).c_str(), ci.c_str(),
                            num(r.cosine, "{:.4f}").c_str());
      if (t2)
        out += fmt::sprintf(" %8s %7s", num(r.tier2).c_str(), num(r.psnr_db, "{:.1f}").c_str());
      if (quality) out += fmt::sprintf(" %8s", num(r.quality_delta, "{:+.3f}").c_str());
      if (per_ms)
        out += fmt::sprintf(" %8s %10s", num(r.saved_ms, "{:.3f}").c_str(),
                            num(r.tier1_per_ms).c_str());
      out += fmt::sprintf("\n");
    }
  };
  print(rows,
        t1 ? "by tier-1 importance (highest first):" : "by tier-2 importance (highest first):");
  if (per_ms) {
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return std::isnan(b.tier1_per_ms)
                 ? !std::isnan(a.tier1_per_ms)
                 : (!std::isnan(a.tier1_per_ms) && a.tier1_per_ms < b.tier1_per_ms);
    });
    print(rows, "\nby importance per ms saved (lowest first: the cheapest to remove):");
  }
  for (const auto& [name, c] : doc.rank_correlation)
    if (c.n >= 2 && std::isfinite(c.spearman))
      out += fmt::sprintf("rank correlation %s: Spearman %.3f over %d units\n", name.c_str(),
                          c.spearman, c.n);
  if (doc.teacher.quality) {
    std::string q;
    for (const auto& [k, v] : *doc.teacher.quality)
      if (std::isfinite(v)) q += fmt::format("{} {:.3f}  ", k, v);
    out += fmt::sprintf("teacher: %s\n", q.c_str());
  }
  return out;
}

std::string importance_file_table(const std::filesystem::path& file, int max_rows) {
  if (read_artifact_type(file) == TemporalArtifact::kArtifact)
    return temporal_table(TemporalArtifact::read(file), max_rows);
  return importance_table(ImportanceArtifact::read(file), max_rows);
}

}  // namespace asdm
