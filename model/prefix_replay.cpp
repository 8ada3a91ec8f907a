#include "model/prefix_replay.h"

#include <algorithm>

#include <ATen/core/Tensor.h>

namespace asdm {

struct PrefixReplay::Recorded {
  long event = 0;
  at::Tensor output;
};

PrefixReplay::PrefixReplay() = default;
PrefixReplay::~PrefixReplay() = default;

void PrefixReplay::record() {
  recording_ = true;
  cut_ = -1;
  events_ = 0;
  enter_.clear();
  exit_.clear();
}

void PrefixReplay::replay_before(const std::vector<std::string>& bypassed) {
  recording_ = false;
  replayed_ = 0;
  cut_ = exit_.empty() ? -1 : events_;
  for (const std::string& id : bypassed) {
    const auto it = enter_.find(id);
    cut_ = it == enter_.end() ? -1 : std::min(cut_, it->second);
    if (cut_ < 0) break;
  }
}

void PrefixReplay::on_enter(const UnitInfo& unit) {
  if (recording_) enter_[unit.id] = events_++;
}

void PrefixReplay::on_exit(const UnitInfo& unit, const at::Tensor& output) {
  if (recording_) exit_[unit.id] = std::make_unique<Recorded>(Recorded{events_++, output});
}

int64_t PrefixReplay::bytes() const {
  int64_t n = 0;
  for (const auto& [id, r] : exit_)
    if (r->output.defined()) n += r->output.numel() * int64_t(r->output.element_size());
  return n;
}

const at::Tensor* PrefixReplay::replay(const UnitInfo& unit) {
  if (recording_ || cut_ < 0) return nullptr;
  const auto it = exit_.find(unit.id);
  if (it == exit_.end() || it->second->event >= cut_) return nullptr;
  ++replayed_;
  return &it->second->output;
}

}  // namespace asdm
