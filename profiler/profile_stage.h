#pragma once
// The profile stage (asdm profile) as a library call: load a UNet (a bare config runs with random
// weights: latency does not depend on them), profile it per unit and stamp profile.json's header.
// Light header.
#include <functional>
#include <string>

#include "profiler/profile.h"
#include "profiler/profile_io.h"

namespace asdm {

// Throws asdm::Error for a model that cannot be loaded or an input it cannot take (checked before
// loading). `channels_last`: the UNet runs in NHWC memory (UNet::set_channels_last).
ProfileArtifact profile_model(const std::string& model, const ProfileOptions& options,
                              const std::string& device, const std::string& dtype,
                              const RunContext& context, bool channels_last = false);

// `profile` (a profile_model call) run again, up to `tries` runs in all, while its units do not add
// up to its forward (unit_share_warning: timed on a busy machine). `note` hears each retry's
// reason. Returns the first consistent profile; throws asdm::Error after `tries` inconsistent ones,
// naming their shares, so that nothing is written and a rerun profiles afresh.
ProfileArtifact profile_until_consistent(const std::function<ProfileArtifact()>& profile, int tries,
                                         const std::function<void(const std::string&)>& note);

}  // namespace asdm
