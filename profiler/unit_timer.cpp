#include "profiler/unit_timer.h"

#include "core/error.h"

namespace asdm {

double UnitTimer::steady_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

UnitTimer::UnitTimer(Clock clock) : clock_(std::move(clock)) {}

void UnitTimer::begin_forward() {
  ASDM_CHECK(stack_.empty(), "begin_forward inside a forward");
  samples_.clear();
  origin_ = -1;
}

ForwardRecord UnitTimer::end_forward() {
  ASDM_CHECK(stack_.empty(), "end_forward with {} units still open", stack_.size());
  ForwardRecord r;
  r.units = samples_;
  return r;
}

void UnitTimer::on_enter(const UnitInfo& unit) {
  const double now = clock_();
  if (origin_ < 0) origin_ = now;
  stack_.push_back({&unit, now, 0.0});
}

void UnitTimer::on_exit(const UnitInfo& unit, const at::Tensor&) {
  const double now = clock_();
  ASDM_CHECK(!stack_.empty() && stack_.back().unit == &unit, "unbalanced unit exit for {}",
             unit.id);
  const Open o = stack_.back();
  stack_.pop_back();
  UnitSample s;
  s.id = unit.id;
  s.start_ms = o.start - origin_;
  s.inclusive_ms = now - o.start;
  s.exclusive_ms = s.inclusive_ms - o.children_ms;
  s.depth = static_cast<int>(stack_.size());
  s.span_ms = s.inclusive_ms;
  if (!stack_.empty()) stack_.back().children_ms += s.inclusive_ms;
  samples_.push_back(s);
}

}  // namespace asdm
