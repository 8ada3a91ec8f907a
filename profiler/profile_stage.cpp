#include "profiler/profile_stage.h"

#include <fmt/format.h>

#include "core/error.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "model/unet.h"

namespace asdm {

ProfileArtifact profile_model(const std::string& model, const ProfileOptions& options,
                              const std::string& device, const std::string& dtype,
                              const RunContext& context, bool channels_last) {
  profile_latent_side(load_arch(locate_model(model)).student_config(), options);  // fail early
  LoadOptions lo;
  lo.device = device;
  lo.dtype = dtype;
  lo.allow_random_weights = true;  // latency does not depend on the weights' values
  lo.channels_last = channels_last;
  auto unet = load_unet(model, lo);
  ProfileArtifact a;
  a.report = profile_unet(*unet, options);
  a.header = ArtifactHeader::make(a.kArtifact, a.kSchemaVersion, context);
  a.model = model;
  return a;
}

ProfileArtifact profile_until_consistent(const std::function<ProfileArtifact()>& profile, int tries,
                                         const std::function<void(const std::string&)>& note) {
  ASDM_CHECK(tries >= 1, "profile_until_consistent needs at least one try, got {}", tries);
  std::string shares;
  for (int i = 1;; ++i) {
    ProfileArtifact a = profile();
    const double share = unit_share(a.report);
    if (a.report.sampler_steps > 0 || (share >= kMinUnitShare && share <= kMaxUnitShare)) return a;
    shares += fmt::format("{}{:.0f}%", shares.empty() ? "" : ", ", 100 * share);
    if (i == tries)
      fail(
          "the machine was too busy to time {}: in {} profiles its units added up to {} of the "
          "forward (a quiet machine gives about 100%); nothing was written, so a rerun profiles "
          "again",
          a.model, tries, shares);
    if (note)
      note(fmt::format(
          "warning: the units of {} add up to {:.0f}% of the forward's {:.2f} ms (a busy "
          "machine?); profiling again ({} of {})",
          a.model, 100 * share, a.report.unobserved_ms.median, i + 1, tries));
  }
}

}  // namespace asdm
