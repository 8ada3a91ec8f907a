#include "pruner/latency_model.h"

#include <algorithm>

#include "core/error.h"
#include "model/unet_layout.h"

namespace asdm {

LatencyModel::LatencyModel(const ProfileLatency& profile, const UNetLayout& layout)
    : teacher_ms_(profile.forward_ms), profile_(profile) {
  if (profile.sampler_loop)
    fail(
        "{} times sampler loops (asdm profile --sampler-steps); the latency predictor needs single "
        "forwards",
        profile.path);
  std::vector<std::string> missing, extra;
  for (const auto& u : layout.units)
    if (!profile.units.count(u.id)) missing.push_back(u.id);
  for (const auto& [id, t] : profile.units)
    if (!layout.find(id)) extra.push_back(id);
  if (!missing.empty() || !extra.empty())
    fail("{} is a profile of another model: {}{}{}", profile.path,
         missing.empty() ? "" : "no times for " + join_limited(missing, 3),
         missing.empty() || extra.empty() ? "" : "; ",
         extra.empty() ? "" : "units the model lacks: " + join_limited(extra, 3));
  if (!(teacher_ms_ > 0)) fail("{}: the forward time is not positive", profile.path);
  double ms = 0;
  for (const auto& u : layout.units)
    if (u.parent.empty()) ms += profile.units.at(u.id).inclusive_ms;
  unit_share_ = ms / teacher_ms_;
}

std::string LatencyModel::consistency_warning() const {
  return unit_share_warning(profile_.path, unit_share_, teacher_ms_);
}

double LatencyModel::saved_ms(const std::string& unit) const {
  return profile_.units.at(unit).inclusive_ms;
}

double LatencyModel::saved_ms(const std::vector<std::string>& units) const {
  double ms = 0;
  for (const auto& id : units) {
    const auto it = profile_.units.find(id);
    ASDM_CHECK(it != profile_.units.end(), "unit {} not in the profile", id);
    const std::string& parent = it->second.parent;
    if (!parent.empty() && std::find(units.begin(), units.end(), parent) != units.end()) continue;
    ms += it->second.inclusive_ms;
  }
  return ms;
}

}  // namespace asdm
