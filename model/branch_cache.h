#pragma once
// Applies a cache plan (model/cache_plan.h) to UNet forwards (issue 23). While a BranchCacheGuard
// lives on this thread, every UNet forward is the plan's next model call (after its last call the
// count starts again and the kept branches are dropped: a new sampling run). On a call, a unit the
// plan reuses runs its shortcut on this call's input and adds the branch kept from the last call
// that computed it; a unit the plan reuses on some call keeps its branch (output − shortcut) when
// it is computed. Other units, and units the observer bypasses, run as usual. The plan is checked
// against the model and the sampler's calls by whoever attaches it (CachePlan::check).
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/cache_plan.h"

namespace at {
class Tensor;
}

namespace asdm {

class BranchCache {
 public:
  explicit BranchCache(const CachePlan& plan);
  ~BranchCache();

  // The UNet's: the next model call starts.
  void begin_forward();
  int call() const { return call_; }  // the current call (0-based; -1 before the first)
  bool reuses(const std::string& unit) const;
  bool keeps(const std::string& unit) const;
  // The branch kept for `unit`; throws asdm::Error when none was (a plan not checked).
  const at::Tensor& branch(const std::string& unit) const;
  void keep(const std::string& unit, const at::Tensor& branch);
  bool has(const std::string& unit) const;

  // The skip-branch form (CachePlan::skip_level): the level skipped at this call (0: none), the
  // level whose entering hidden state is kept (0: the plan never skips), and that state.
  int skip_level_now() const;
  int deep_level() const;
  int skip_layers() const { return plan_.skip_layers; }  // CachePlan::skip_layers
  const at::Tensor& deep() const;                        // throws asdm::Error when no call kept it
  void keep_deep(const at::Tensor& h);

  // For analysis (analysis/temporal.h): also keep the branches of these units whenever a call
  // computes them, whether the plan reuses them or not.
  void also_keep(const std::set<std::string>& units) { also_keep_ = units; }
  // The next forward is call `call` + 1 of the current run; the kept branches stay (a probe of one
  // call, with branches the caller set through keep()).
  void seek(int call) { call_ = call; }

  int64_t bytes() const;       // kept branches now
  int64_t peak_bytes() const;  // the most kept at once
  int64_t forwards() const { return forwards_; }
  int64_t reused() const { return reused_; }  // unit evaluations replaced by a kept branch
  void count_reuse() { ++reused_; }

 private:
  CachePlan plan_;
  std::set<std::string> units_, also_keep_;
  std::vector<std::set<std::string>> reuse_;
  int call_ = -1;
  int64_t forwards_ = 0, reused_ = 0, peak_ = 0;
  struct Kept;
  std::unique_ptr<Kept> kept_;
};

// Attaches `cache` to this thread's UNet forwards (nullptr: none) until destroyed; restores the
// previous one.
class BranchCacheGuard {
 public:
  explicit BranchCacheGuard(BranchCache* cache);
  ~BranchCacheGuard();
  BranchCacheGuard(const BranchCacheGuard&) = delete;
  BranchCacheGuard& operator=(const BranchCacheGuard&) = delete;

 private:
  BranchCache* previous_;
};

BranchCache* active_branch_cache();

}  // namespace asdm
