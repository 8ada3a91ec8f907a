#include "model/branch_cache.h"

#include <torch/torch.h>

#include "core/error.h"

namespace asdm {
namespace {
thread_local BranchCache* g_cache = nullptr;
}

struct BranchCache::Kept {
  std::map<std::string, at::Tensor> branches;
};

BranchCache::BranchCache(const CachePlan& plan)
    : plan_(plan), units_(plan.units()), kept_(std::make_unique<Kept>()) {
  for (const auto& call : plan.reuse) reuse_.emplace_back(call.begin(), call.end());
}

BranchCache::~BranchCache() = default;

void BranchCache::begin_forward() {
  ++forwards_;
  call_ = plan_.calls > 0 ? (call_ + 1) % plan_.calls : 0;
  if (call_ == 0) kept_->branches.clear();  // a new sampling run
}

bool BranchCache::reuses(const std::string& unit) const {
  return call_ >= 0 && call_ < int(reuse_.size()) && reuse_[call_].count(unit) > 0;
}

bool BranchCache::keeps(const std::string& unit) const {
  return units_.count(unit) > 0 && !reuses(unit);
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

int64_t BranchCache::bytes() const {
  int64_t b = 0;
  for (const auto& [k, t] : kept_->branches) b += t.numel() * int64_t(t.element_size());
  return b;
}

int64_t BranchCache::peak_bytes() const { return peak_; }

BranchCacheGuard::BranchCacheGuard(BranchCache* cache) : previous_(g_cache) { g_cache = cache; }
BranchCacheGuard::~BranchCacheGuard() { g_cache = previous_; }

BranchCache* active_branch_cache() { return g_cache; }

}  // namespace asdm
