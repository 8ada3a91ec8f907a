#pragma once
// Replaying the unchanged prefix of a forward. When units are bypassed (an ablation), every unit
// that finishes before the first bypassed one starts sees the teacher's inputs and gives the
// teacher's output, so a forward that only differs from a recorded one by its bypassed units can
// take those outputs as they were recorded and compute from the first bypassed unit on. Nested
// units follow from the order: a unit is replayed only if it exited before the first bypassed
// unit entered, so the blocks around a bypassed unit run, and their earlier children replay.
//
//   PrefixReplay replay;
//   replay.record();  unet.forward(x, t, ehs, {}, &replay);            // the teacher, recorded
//   Bypass bypass(units);  ObserverChain chain;  chain.add(&replay);  chain.add(&bypass);
//   replay.replay_before(units);  unet.forward(x, t, ehs, {}, &chain);   // = the plain bypassed
//   one
//
// The recorded outputs are held (not copied) until the next record(): one forward's unit outputs.
// Inputs must be the recorded ones (same tensors or equal values): nothing checks this.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/observer.h"

namespace asdm {

class PrefixReplay : public UnitObserver {
 public:
  PrefixReplay();
  ~PrefixReplay() override;
  // The next forward is recorded: every unit's output and the order units enter and exit.
  void record();
  // The next forwards replay the units that exited before the first of `bypassed` entered in the
  // recorded forward (none if a unit is not in it, or no forward was recorded).
  void replay_before(const std::vector<std::string>& bypassed);
  // Units replayed since the last replay_before.
  int replayed() const { return replayed_; }
  // Bytes of the recorded outputs.
  int64_t bytes() const;

  void on_enter(const UnitInfo& unit) override;
  void on_exit(const UnitInfo& unit, const at::Tensor& output) override;
  const at::Tensor* replay(const UnitInfo& unit) override;

 private:
  struct Recorded;
  bool recording_ = false;
  long cut_ = -1;  // replay units whose exit came before this event number
  long events_ = 0;
  int replayed_ = 0;
  std::map<std::string, long> enter_;
  std::map<std::string, std::unique_ptr<Recorded>> exit_;
};

}  // namespace asdm
