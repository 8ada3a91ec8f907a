#pragma once
// The CPU-timer latency backend: wall-clock time at unit boundaries, through the observer hook.
// Per forward it records each unit's inclusive time and its exclusive (self) time, i.e. inclusive
// minus the inclusive time of the units nested in it (a Transformer2D's transformer blocks).
// Torch-free; the clock is injectable so that the arithmetic is testable. On CUDA this backend would
// need a device synchronisation at every boundary (intrusive); it is the CPU backend.
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/observer.h"

namespace asdm {

struct UnitSample {
  std::string id;
  double start_ms = 0;  // since the forward began (the first on_enter of the forward)
  double inclusive_ms = 0;
  double exclusive_ms = 0;
  int depth = 0;  // nesting depth (0: top-level unit)
};

class UnitTimer : public UnitObserver {
 public:
  using Clock = std::function<double()>;  // milliseconds from any fixed origin
  explicit UnitTimer(Clock clock = steady_ms);

  // Starts a new forward's record; call before each observed forward.
  void begin_forward();
  const std::vector<UnitSample>& samples() const { return samples_; }  // in exit order

  void on_enter(const UnitInfo& unit) override;
  void on_exit(const UnitInfo& unit, const at::Tensor& output) override;

  static double steady_ms();

 private:
  struct Open {
    const UnitInfo* unit;
    double start;
    double children_ms;
  };
  Clock clock_;
  double origin_ = -1;
  std::vector<Open> stack_;
  std::vector<UnitSample> samples_;
};

}  // namespace asdm
