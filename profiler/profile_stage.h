#pragma once
// The profile stage (asdm profile) as a library call: load a UNet (a bare config runs with random
// weights: latency does not depend on them), profile it per unit and stamp profile.json's header.
// Light header.
#include <string>

#include "profiler/profile.h"
#include "profiler/profile_io.h"

namespace asdm {

// Throws asdm::Error for a model that cannot be loaded or an input it cannot take (checked before
// loading). `channels_last`: the UNet runs in NHWC memory (UNet::set_channels_last).
ProfileArtifact profile_model(const std::string& model, const ProfileOptions& options,
                              const std::string& device, const std::string& dtype,
                              const RunContext& context, bool channels_last = false);

}  // namespace asdm
