#include "model/branch_cache.h"

#include <algorithm>

#include <torch/torch.h>

#include "core/error.h"

namespace asdm {
namespace {
thread_local BranchCache* g_cache = nullptr;
}

struct BranchCache::Kept {
  std::map<std::string, at::Tensor> branches;
  at::Tensor deep;  // the skip-branch form's hidden state
};

BranchCache::BranchCache(const CachePlan& plan)
    : plan_(plan), units_(plan.units()), kept_(std::make_unique<Kept>()) {
  for (const auto& call : plan.reuse) reuse_.emplace_back(call.begin(), call.end());
}

BranchCache::~BranchCache() = default;

void BranchCache::begin_forward() {
  ++forwards_;
  call_ = plan_.calls > 0 ? (call_ + 1) % plan_.calls : 0;
  if (call_ == 0) {  // a new sampling run
    kept_->branches.clear();
    kept_->deep = at::Tensor();
  }
}

bool BranchCache::reuses(const std::string& unit) const {
  return call_ >= 0 && call_ < int(reuse_.size()) && reuse_[call_].count(unit) > 0;
}

bool BranchCache::keeps(const std::string& unit) const {
  return (units_.count(unit) > 0 || also_keep_.count(unit) > 0) && !reuses(unit);
}

const at::Tensor& BranchCache::branch(const std::string& unit) const {
  auto it = kept_->branches.find(unit);
  if (it == kept_->branches.end())
    fail("the cache plan reuses {} at call {}, but no earlier call of this run computed it", unit,
         call_);
  return it->second;
}

void BranchCache::keep(const std::string& unit, const at::Tensor& branch) {
  kept_->branches[unit] = branch;
  peak_ = std::max(peak_, bytes());
}

int BranchCache::skip_level_now() const { return plan_.skips(call_) ? plan_.skip_level : 0; }

int BranchCache::deep_level() const {
  return std::find(plan_.skip.begin(), plan_.skip.end(), true) != plan_.skip.end()
             ? plan_.skip_level
             : 0;
}

const at::Tensor& BranchCache::deep() const {
  if (!kept_->deep.defined())
    fail("the cache plan skips the deep part at call {}, but no earlier call of this run ran it",
         call_);
  return kept_->deep;
}

void BranchCache::keep_deep(const at::Tensor& h) {
  kept_->deep = h;
  peak_ = std::max(peak_, bytes());
}

bool BranchCache::has(const std::string& unit) const { return kept_->branches.count(unit) > 0; }

int64_t BranchCache::bytes() const {
  int64_t b = 0;
  for (const auto& [k, t] : kept_->branches) b += t.numel() * int64_t(t.element_size());
  if (kept_->deep.defined()) b += kept_->deep.numel() * int64_t(kept_->deep.element_size());
  return b;
}

int64_t BranchCache::peak_bytes() const { return peak_; }

BranchCacheGuard::BranchCacheGuard(BranchCache* cache) : previous_(g_cache) { g_cache = cache; }
BranchCacheGuard::~BranchCacheGuard() { g_cache = previous_; }

BranchCache* active_branch_cache() { return g_cache; }

}  // namespace asdm
