#pragma once
// The latency predictor (issue 6 item 1): a student's UNet latency is the teacher's minus what its
// removed units took in the teacher's profile (their inclusive median time: a removed unit's
// nested units go with it). Torch-free.
#include <string>
#include <vector>

#include "profiler/profile_io.h"

namespace asdm {

struct UNetLayout;

class LatencyModel {
 public:
  // Throws asdm::Error when the profile's units are not the layout's (another model).
  LatencyModel(const ProfileLatency& profile, const UNetLayout& layout);

  double teacher_ms() const { return teacher_ms_; }
  // Time saved by removing `units` (those nested in another listed unit are not counted twice).
  double saved_ms(const std::vector<std::string>& units) const;
  double predict_ms(const std::vector<std::string>& removed) const {
    return teacher_ms_ - saved_ms(removed);
  }
  double saved_ms(const std::string& unit) const;

 private:
  double teacher_ms_ = 0;
  ProfileLatency profile_;
};

}  // namespace asdm
