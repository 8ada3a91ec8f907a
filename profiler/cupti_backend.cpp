#include "profiler/cupti_backend.h"

#ifndef ASDM_WITH_CUPTI

namespace asdm {
std::unique_ptr<LatencyBackend> make_cupti_backend(const CudaRuntime&, std::string* why) {
  *why = "this asdm was built without CUPTI (no CUDA toolkit found at build time)";
  return nullptr;
}
}  // namespace asdm

#else

#include <cupti.h>
#include <cxxabi.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "core/error.h"
#include "profiler/cupti_attribution.h"
#include "profiler/dynlib.h"

namespace asdm {
namespace {

struct Cupti {
  decltype(&cuptiActivityRegisterCallbacks) register_callbacks = nullptr;
  decltype(&cuptiActivityEnable) enable = nullptr;
  decltype(&cuptiActivityDisable) disable = nullptr;
  decltype(&cuptiActivityFlushAll) flush_all = nullptr;
  decltype(&cuptiActivityGetNextRecord) next_record = nullptr;
  decltype(&cuptiActivityGetNumDroppedRecords) dropped = nullptr;
  decltype(&cuptiActivityPushExternalCorrelationId) push = nullptr;
  decltype(&cuptiActivityPopExternalCorrelationId) pop = nullptr;
  decltype(&cuptiGetTimestamp) timestamp = nullptr;
  decltype(&cuptiGetResultString) result_string = nullptr;
  decltype(&cuptiSubscribe) subscribe = nullptr;
  decltype(&cuptiUnsubscribe) unsubscribe = nullptr;

  std::string error(CUptiResult r) const {
    const char* s = nullptr;
    if (result_string) result_string(r, &s);
    return s ? s : fmt::format("CUPTI error {}", int(r));
  }
  void check(CUptiResult r, const char* what) const {
    if (r != CUPTI_SUCCESS) fail("{} failed: {}", what, error(r));
  }
};

const Cupti* load_cupti(std::string& why) {
  static Cupti c;
  static std::string reason = [] {
    void* lib = dynlib::open({"libcupti.so.13", "libcupti.so"});  // libtorch_cpu links it
    if (!lib) return std::string("libcupti is not available");
    std::string missing;
    auto sym = [&](auto& fn, const char* name) { dynlib::resolve(lib, fn, name, "libcupti", missing); };
    sym(c.register_callbacks, "cuptiActivityRegisterCallbacks");
    sym(c.enable, "cuptiActivityEnable");
    sym(c.disable, "cuptiActivityDisable");
    sym(c.flush_all, "cuptiActivityFlushAll");
    sym(c.next_record, "cuptiActivityGetNextRecord");
    sym(c.dropped, "cuptiActivityGetNumDroppedRecords");
    sym(c.push, "cuptiActivityPushExternalCorrelationId");
    sym(c.pop, "cuptiActivityPopExternalCorrelationId");
    sym(c.timestamp, "cuptiGetTimestamp");
    sym(c.result_string, "cuptiGetResultString");
    sym(c.subscribe, "cuptiSubscribe");
    sym(c.unsubscribe, "cuptiUnsubscribe");
    return missing;
  }();
  if (!reason.empty()) {
    why = reason;
    return nullptr;
  }
  return &c;
}

std::string demangle(const char* name) {
  if (!name) return "?";
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = (status == 0 && d) ? d : name;
  std::free(d);
  if (s.size() > 160) s = s.substr(0, 157) + "...";
  return s;
}

// What the buffer-completed callback collects (it runs on a CUPTI thread).
struct Collected {
  std::mutex mu;
  std::vector<ActivityRecord> activities;
  std::vector<ExternalCorrelation> correlations;
};
Collected g_collected;
const Cupti* g_cupti = nullptr;

constexpr size_t kBufferBytes = 8u << 20;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *size = kBufferBytes;
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  std::vector<ActivityRecord> acts;
  std::vector<ExternalCorrelation> corrs;
  CUpti_Activity* rec = nullptr;
  while (valid > 0 && g_cupti->next_record(buffer, valid, &rec) == CUPTI_SUCCESS) {
    switch (rec->kind) {
      case CUPTI_ACTIVITY_KIND_KERNEL:
      case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
        auto* k = reinterpret_cast<CUpti_ActivityKernel10*>(rec);
        acts.push_back({ActivityRecord::Kind::kKernel, k->correlationId, k->streamId, k->start, k->end, demangle(k->name)});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMCPY: {
        auto* m = reinterpret_cast<CUpti_ActivityMemcpy6*>(rec);
        acts.push_back({ActivityRecord::Kind::kMemcpy, m->correlationId, m->streamId, m->start, m->end,
                        fmt::format("memcpy ({} bytes)", uint64_t(m->bytes))});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMSET: {
        auto* m = reinterpret_cast<CUpti_ActivityMemset4*>(rec);
        acts.push_back({ActivityRecord::Kind::kMemset, m->correlationId, m->streamId, m->start, m->end,
                        fmt::format("memset ({} bytes)", uint64_t(m->bytes))});
        break;
      }
      case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
        auto* e = reinterpret_cast<CUpti_ActivityExternalCorrelation*>(rec);
        if (e->externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0) corrs.push_back({e->correlationId, e->externalId});
        break;
      }
      default:
        break;  // runtime/driver API records: needed for the correlation records, not used
    }
  }
  std::free(buffer);
  std::lock_guard<std::mutex> lock(g_collected.mu);
  g_collected.activities.insert(g_collected.activities.end(), acts.begin(), acts.end());
  g_collected.correlations.insert(g_collected.correlations.end(), corrs.begin(), corrs.end());
}

void CUPTIAPI no_op_callback(void*, CUpti_CallbackDomain, CUpti_CallbackId, const void*) {}

// The activity kinds traced. External correlation records hang off API records, so the runtime
// and driver API kinds are on by default (cuBLAS and cuDNN launch through the driver API);
// ASDM_CUPTI_API_RECORDS=runtime|driver|none narrows that (for measuring CUPTI's own overhead).
std::vector<CUpti_ActivityKind> traced_kinds() {
  std::vector<CUpti_ActivityKind> k = {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY,
                                       CUPTI_ACTIVITY_KIND_MEMSET, CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION};
  const char* env = std::getenv("ASDM_CUPTI_API_RECORDS");
  const std::string api = env && *env ? env : "runtime,driver";
  if (api.find("runtime") != std::string::npos) k.push_back(CUPTI_ACTIVITY_KIND_RUNTIME);
  if (api.find("driver") != std::string::npos) k.push_back(CUPTI_ACTIVITY_KIND_DRIVER);
  return k;
}

std::atomic<bool> g_live{false};

class CuptiBackend : public LatencyBackend {
 public:
  CuptiBackend(const CudaRuntime& rt, const Cupti& c) : rt_(rt), c_(c), kinds_(traced_kinds()) {}
  ~CuptiBackend() override {
    if (enabled_) disable();
    g_live = false;
  }
  std::string name() const override { return "cupti"; }

  void begin_forward() override {
    ASDM_CHECK(open_.empty(), "begin_forward inside a forward");
    {
      std::lock_guard<std::mutex> lock(g_collected.mu);
      g_collected.activities.clear();
      g_collected.correlations.clear();
    }
    ranges_.clear();
    for (auto k : kinds_) c_.check(c_.enable(k), "cuptiActivityEnable");
    enabled_ = true;
    c_.check(c_.timestamp(&origin_), "cuptiGetTimestamp");
  }

  void on_enter(const UnitInfo& unit) override {
    RangeRecord r;
    r.ext_id = ++next_ext_;
    r.unit = unit.id;
    r.parent_ext = open_.empty() ? 0 : ranges_[open_.back()].ext_id;
    c_.timestamp(&r.enter_ns);
    ranges_.push_back(std::move(r));
    open_.push_back(ranges_.size() - 1);
    c_.check(c_.push(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, next_ext_), "cuptiActivityPushExternalCorrelationId");
  }

  void on_exit(const UnitInfo& unit, const at::Tensor&) override {
    ASDM_CHECK(!open_.empty() && ranges_[open_.back()].unit == unit.id, "unbalanced unit exit for {}", unit.id);
    uint64_t last = 0;
    c_.check(c_.pop(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &last), "cuptiActivityPopExternalCorrelationId");
    c_.timestamp(&ranges_[open_.back()].exit_ns);
    open_.pop_back();
  }

  ForwardRecord end_forward() override {
    ASDM_CHECK(open_.empty(), "end_forward with {} units still open", open_.size());
    rt_.check(rt_.device_synchronize(), "cudaDeviceSynchronize");
    c_.check(c_.flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED), "cuptiActivityFlushAll");
    size_t dropped = 0;
    c_.dropped(nullptr, 0, &dropped);
    disable();
    std::vector<ActivityRecord> acts;
    std::vector<ExternalCorrelation> corrs;
    {
      std::lock_guard<std::mutex> lock(g_collected.mu);
      acts.swap(g_collected.activities);
      corrs.swap(g_collected.correlations);
    }
    return attribute_activity(ranges_, corrs, acts, static_cast<int64_t>(dropped), origin_);
  }

 private:
  void disable() {
    for (auto k : kinds_) c_.disable(k);
    enabled_ = false;
  }
  const CudaRuntime& rt_;
  const Cupti& c_;
  std::vector<CUpti_ActivityKind> kinds_;
  bool enabled_ = false;
  uint64_t origin_ = 0, next_ext_ = 0;
  std::vector<RangeRecord> ranges_;
  std::vector<size_t> open_;
};

}  // namespace

std::unique_ptr<LatencyBackend> make_cupti_backend(const CudaRuntime& rt, std::string* why) {
  const Cupti* c = load_cupti(*why);
  if (!c) return nullptr;
  if (g_live.exchange(true)) {
    *why = "a CUPTI backend is already active in this process";
    return nullptr;
  }
  // Another client (Nsight Systems, torch.profiler/kineto) holds CUPTI's one subscriber slot.
  CUpti_SubscriberHandle sub = nullptr;
  const CUptiResult s = c->subscribe(&sub, reinterpret_cast<CUpti_CallbackFunc>(no_op_callback), nullptr);
  if (s != CUPTI_SUCCESS) {
    g_live = false;
    *why = s == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED ? "another CUPTI client is already subscribed"
                                                               : "CUPTI refused a subscriber: " + c->error(s);
    return nullptr;
  }
  c->unsubscribe(sub);
  static bool registered = false;
  if (!registered) {
    const CUptiResult r = c->register_callbacks(buffer_requested, buffer_completed);
    if (r != CUPTI_SUCCESS) {
      g_live = false;
      *why = "CUPTI activity callbacks refused: " + c->error(r);
      return nullptr;
    }
    registered = true;
  }
  const CUptiResult e = c->enable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  if (e != CUPTI_SUCCESS) {
    g_live = false;
    *why = "CUPTI activity tracing refused: " + c->error(e);
    return nullptr;
  }
  c->disable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  g_cupti = c;
  return std::make_unique<CuptiBackend>(rt, *c);
}

}  // namespace asdm

#endif  // ASDM_WITH_CUPTI
