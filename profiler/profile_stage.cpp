#include "profiler/profile_stage.h"

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

}  // namespace asdm
