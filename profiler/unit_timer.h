#pragma once
// The CPU-timer latency backend: wall-clock time at unit boundaries, through the observer hook.
// Per forward it records each unit's inclusive time and its exclusive (self) time, i.e. inclusive
// minus the inclusive time of the units nested in it (a Transformer2D's transformer blocks).
// Torch-free; the clock is injectable so that the arithmetic is testable. On CUDA the clock must
// synchronise the device at every boundary (make_latency_backend does): intrusive, but honest.
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "profiler/latency_backend.h"

namespace asdm {

class UnitTimer : public LatencyBackend {
 public:
  using Clock = std::function<double()>;  // milliseconds from any fixed origin
  explicit UnitTimer(Clock clock = steady_ms);

  std::string name() const override { return "timer"; }
  // Starts a new forward's record; call before each observed forward.
  void begin_forward() override;
  ForwardRecord end_forward() override;
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
