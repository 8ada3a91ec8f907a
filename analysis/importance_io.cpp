#include "analysis/importance_io.h"

#include <algorithm>
#include <cmath>

#include "analysis/importance.h"

#include "core/artifact.h"
#include "core/error.h"

namespace asdm {

bool importance_complete(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return false;
  try {
    return ImportanceArtifact::read(path).complete;
  } catch (const Error&) {
    return false;
  }
}

ImportanceScores read_importance_scores(const std::filesystem::path& path,
                                        const std::string& metric) {
  if (metric != "tier1" && metric != "tier2" && metric != "clip")
    fail("importance metric must be tier1, tier2 or clip (got '{}')", metric);
  const ImportanceArtifact a = ImportanceArtifact::read(path);
  if (!a.complete) fail("{} is unfinished; finish it with asdm ablate --resume", path.string());
  ImportanceScores s;
  s.path = path.string();
  s.metric = metric;
  s.subject = a.settings.subject;
  s.settings = {a.settings.timesteps,
                a.settings.sampler,
                a.settings.steps,
                a.settings.guidance,
                a.settings.seed,
                a.settings.batch,
                a.settings.prompts,
                a.settings.prompts_sha256,
                a.settings.sample_shape.size() > 1 ? int(a.settings.sample_shape[1]) : 0};
  for (const auto& r : a.results) {
    if (r.kind == "group") continue;
    double v = std::nan("");
    if (metric == "tier1" && r.tier1) v = r.tier1->nmse.mean;
    if (metric == "tier2" && r.tier2) v = r.tier2->ssim_loss.mean;
    // The CLIP score's drop from the teacher's (asdm ablate --tier 2 --clip); a unit whose
    // removal raised it costs nothing.
    if (metric == "clip" && r.tier2 && r.tier2->quality_delta &&
        r.tier2->quality_delta->count("clip_score"))
      v = std::max(0.0, -r.tier2->quality_delta->at("clip_score"));
    if (std::isfinite(v)) s.units[r.id] = v;
  }
  if (s.units.empty())
    fail("{} has no {} scores{}", path.string(),
         metric == "tier1"   ? "tier-1"
         : metric == "tier2" ? "tier-2"
                             : "CLIP-score",
         metric == "clip" ? " (asdm ablate --tier 2 --clip records them)" : "");
  return s;
}

}  // namespace asdm
