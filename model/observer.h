#pragma once
// The one instrumentation hook (DESIGN.md §5). The UNet's forward passes every unit boundary
// through a UnitObserver; timers, CUDA events, CUPTI ranges, ablation and feature capture attach
// here, and the model code knows nothing about who is watching. Light header: tensors are
// forward-declared.
#include <string>

#include "model/unet_layout.h"

namespace at {
class Tensor;
}

namespace asdm {

class UnitObserver {
 public:
  virtual ~UnitObserver() = default;
  // Called before the unit runs (fixed parts included).
  virtual void on_enter(const UnitInfo& unit) {}
  // Asked once per call, after on_enter: true runs only the unit's shortcut (removable units only;
  // ignored for others). A unit removed by the ArchSpec always runs its shortcut.
  virtual bool bypass(const UnitInfo& unit) { return false; }
  // Asked once per call, after on_enter and before bypass: a tensor returned is the unit's output
  // and the unit does not run (units nested in it are not entered). For replaying the part of a
  // forward whose inputs are known to be unchanged (model/prefix_replay.h); not under a cache plan.
  virtual const at::Tensor* replay(const UnitInfo& unit) { return nullptr; }
  // Called after the unit ran, with its output.
  virtual void on_exit(const UnitInfo& unit, const at::Tensor& output) {}
  // Named intermediate tensors (block outputs, skip tensors, transformer internals; the naming of
  // DESIGN.md §3 / the diffusers fixtures). Only produced when wants_tensors() is true.
  virtual bool wants_tensors() const { return false; }
  virtual void on_tensor(const std::string& path, const at::Tensor& value) {}
  // Cross-attention maps: when true, every cross-attention computes its probabilities explicitly
  // (softmax(QKᵀ/√d), [B, heads, image tokens, text tokens]) and passes them to on_tensor as
  // "<transformer block>.attn2.probs" (also when wants_tensors() is false). Costs memory and time.
  virtual bool wants_attention_maps() const { return false; }
};

// Several observers at once, in order (e.g. a profiler and an ablation bypass).
class ObserverChain : public UnitObserver {
 public:
  void add(UnitObserver* o) { chain_.push_back(o); }
  void on_enter(const UnitInfo& u) override {
    for (auto* o : chain_) o->on_enter(u);
  }
  const at::Tensor* replay(const UnitInfo& u) override {
    for (auto* o : chain_)
      if (const at::Tensor* t = o->replay(u)) return t;
    return nullptr;
  }
  bool bypass(const UnitInfo& u) override {
    bool b = false;
    for (auto* o : chain_) b = o->bypass(u) || b;
    return b;
  }
  void on_exit(const UnitInfo& u, const at::Tensor& t) override {
    for (auto it = chain_.rbegin(); it != chain_.rend(); ++it) (*it)->on_exit(u, t);
  }
  bool wants_tensors() const override {
    for (auto* o : chain_)
      if (o->wants_tensors()) return true;
    return false;
  }
  void on_tensor(const std::string& p, const at::Tensor& t) override {
    for (auto* o : chain_)
      if (o->wants_tensors() || o->wants_attention_maps()) o->on_tensor(p, t);
  }
  bool wants_attention_maps() const override {
    for (auto* o : chain_)
      if (o->wants_attention_maps()) return true;
    return false;
  }

 private:
  std::vector<UnitObserver*> chain_;
};

}  // namespace asdm
