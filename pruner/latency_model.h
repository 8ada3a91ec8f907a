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
  // The top-level units' times over the forward's (the profile's coverage): below 1 by the glue
  // between units; far below,
  // or above 1, when the forward and the units were timed under different load.
  double unit_share() const { return unit_share_; }
  // A warning for a profile whose units and forward disagree (share outside 0.25..1.2; see
  // unit_share), "" otherwise.
  std::string consistency_warning() const;

 private:
  double teacher_ms_ = 0, unit_share_ = 0;
  ProfileLatency profile_;
};

}  // namespace asdm
