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
  // Optional (the callback API, for launch-only attribution): without them every API call is
  // recorded.
  decltype(&cuptiGetCallbackName) callback_name = nullptr;
  decltype(&cuptiEnableCallback) enable_callback = nullptr;
  decltype(&cuptiActivityEnableHWTrace) enable_hw_trace =
      nullptr;  // CUDA 12.8+; works on Blackwell only
  decltype(&cuptiActivitySetAttribute) set_attribute = nullptr;

  std::string error(CUptiResult r) const {
    const char* s = nullptr;
    if (result_string) result_string(r, &s);
    return s ? s : fmt::format("CUPTI error {}", int(r));
  }
  void check(CUptiResult r, const char* what) const {
    if (r != CUPTI_SUCCESS) check_status(false, what, error(r));
  }
  void warn(CUptiResult r, const char* what) const {
    if (r != CUPTI_SUCCESS) warn_status(false, what, error(r));
  }
};

const Cupti* load_cupti(std::string& why) {
  static Cupti c;
  static std::string reason = [] {
    void* lib = dynlib::open({"libcupti.so.13", "libcupti.so"});  // libtorch_cpu links it
    if (!lib) return std::string("libcupti is not available");
    std::string missing;
    auto sym = [&](auto& fn, const char* name) {
      dynlib::resolve(lib, fn, name, "libcupti", missing);
    };
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
    std::string optional;
    dynlib::resolve(lib, c.callback_name, "cuptiGetCallbackName", "libcupti", optional);
    dynlib::resolve(lib, c.enable_callback, "cuptiEnableCallback", "libcupti", optional);
    dynlib::resolve(lib, c.enable_hw_trace, "cuptiActivityEnableHWTrace", "libcupti", optional);
    dynlib::resolve(lib, c.set_attribute, "cuptiActivitySetAttribute", "libcupti", optional);
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

// Buffers come zeroed (calloc: fresh pages from the kernel), and CUPTI is told so
// (CUPTI_ACTIVITY_ATTR_ZEROED_OUT_ACTIVITY_BUFFER): otherwise it zeroes each 8 MiB buffer itself on
// the thread that launches the kernels, inside the timed forward.
void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *size = kBufferBytes;
  *buffer = static_cast<uint8_t*>(std::calloc(1, kBufferBytes));  // malloc alignment (16) >= 8
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
        acts.push_back({ActivityRecord::Kind::kKernel, k->correlationId, k->streamId, k->start,
                        k->end, demangle(k->name)});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMCPY: {
        auto* m = reinterpret_cast<CUpti_ActivityMemcpy6*>(rec);
        acts.push_back({ActivityRecord::Kind::kMemcpy, m->correlationId, m->streamId, m->start,
                        m->end, fmt::format("memcpy ({} bytes)", uint64_t(m->bytes))});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMSET: {
        auto* m = reinterpret_cast<CUpti_ActivityMemset4*>(rec);
        acts.push_back({ActivityRecord::Kind::kMemset, m->correlationId, m->streamId, m->start,
                        m->end, fmt::format("memset ({} bytes)", uint64_t(m->bytes))});
        break;
      }
      case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
        auto* e = reinterpret_cast<CUpti_ActivityExternalCorrelation*>(rec);
        if (e->externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0)
          corrs.push_back({e->correlationId, e->externalId});
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

// How kernels are joined to units. By default ("launch"), a CUPTI callback on the CUDA API calls
// that put work on the device (chosen by name: "Launch", "Memcpy", "Memset"; runtime and driver,
// since cuBLAS and cuDNN launch through the driver) notes each call's correlation id with the
// innermost open unit; the activity records then need no API records at all. Recording every API
// call instead (activity kinds RUNTIME and DRIVER, with external correlation records; several calls
// per kernel: cudaGetDevice, cudaGetLastError, the allocator's queries) cost 2-3 times the overhead
// on an H100. Fine-grained API records (cuptiActivityEnableRuntimeApi) were tried: CUPTI then emits
// no external correlation records. ASDM_CUPTI_API_RECORDS=all|runtime|driver|none selects the
// activity-record join with whole API domains (none: no attribution), for measuring CUPTI's own
// overhead.
struct ApiRecords {
  std::string mode = "launch";            // launch | all | runtime | driver | none
  std::vector<CUpti_ActivityKind> kinds;  // the activity kinds enabled
  std::vector<CUpti_CallbackId> runtime_cbids, driver_cbids;  // launch mode only: the callbacks
  std::string detail;  // for the profile: how kernels were joined to units
};

ApiRecords api_records(const Cupti& c) {
  ApiRecords a;
  a.kinds = {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY,
             CUPTI_ACTIVITY_KIND_MEMSET};
  const char* env = std::getenv("ASDM_CUPTI_API_RECORDS");
  a.mode = env && *env ? env : "launch";
  if (a.mode == "runtime,driver") a.mode = "all";
  if (a.mode != "launch" && a.mode != "all" && a.mode != "runtime" && a.mode != "driver" &&
      a.mode != "none")
    fail("ASDM_CUPTI_API_RECORDS is '{}': expected launch, all, runtime, driver or none", a.mode);
  if (a.mode == "launch" && !(c.callback_name && c.enable_callback)) {
    a.mode = "all";
    a.detail =
        "joined by API records of all runtime and driver calls (this libcupti has no callback API)";
  }
  if (a.mode == "launch") {
    for (uint32_t id = 1; id < CUPTI_RUNTIME_TRACE_CBID_SIZE; ++id) {
      const char* name = nullptr;
      if (c.callback_name(CUPTI_CB_DOMAIN_RUNTIME_API, id, &name) == CUPTI_SUCCESS && name &&
          launches_device_work(name))
        a.runtime_cbids.push_back(id);
    }
    for (uint32_t id = 1; id < CUPTI_DRIVER_TRACE_CBID_SIZE; ++id) {
      const char* name = nullptr;
      if (c.callback_name(CUPTI_CB_DOMAIN_DRIVER_API, id, &name) == CUPTI_SUCCESS && name &&
          launches_device_work(name))
        a.driver_cbids.push_back(id);
    }
    a.detail = fmt::format(
        "joined by callbacks on the launch, memcpy and memset calls ({} runtime and {} driver "
        "API functions); no API records",
        a.runtime_cbids.size(), a.driver_cbids.size());
    return a;
  }
  a.kinds.push_back(CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION);
  if (a.mode == "all" || a.mode == "runtime") a.kinds.push_back(CUPTI_ACTIVITY_KIND_RUNTIME);
  if (a.mode == "all" || a.mode == "driver") a.kinds.push_back(CUPTI_ACTIVITY_KIND_DRIVER);
  if (a.detail.empty())
    a.detail =
        a.mode == "none"
            ? "no API records, no attribution (ASDM_CUPTI_API_RECORDS=none)"
            : fmt::format("joined by API records of all {} calls (ASDM_CUPTI_API_RECORDS={})",
                          a.mode == "all" ? "runtime and driver" : a.mode, a.mode);
  return a;
}

std::atomic<bool> g_live{false};

// Launch mode: the callback notes (correlation id, innermost open unit's id) at each launch's
// entry. It runs on the launching thread; the lock is uncontended unless another thread launches
// too.
struct LaunchLog {
  std::mutex mu;
  uint64_t current = 0;  // ext id of the innermost open unit (0: none)
  std::vector<ExternalCorrelation> calls;
};

void CUPTIAPI launch_callback(void* user, CUpti_CallbackDomain, CUpti_CallbackId,
                              const void* data) {
  auto* cb = static_cast<const CUpti_CallbackData*>(data);
  if (cb->callbackSite != CUPTI_API_ENTER) return;
  auto* log = static_cast<LaunchLog*>(user);
  std::lock_guard<std::mutex> lock(log->mu);
  if (log->current != 0) log->calls.push_back({cb->correlationId, log->current});
}

class CuptiBackend : public LatencyBackend {
 public:
  CuptiBackend(const CudaRuntime& rt, const Cupti& c) : rt_(rt), c_(c), api_(api_records(c)) {}
  ~CuptiBackend() override {
    if (enabled_) disable();
    g_live = false;
  }
  std::string name() const override { return "cupti"; }
  std::string detail() const override { return api_.detail + "; " + hw_trace_; }

  // Tracing is switched on at the first forward and stays on until the backend goes: switching it
  // per forward would make CUPTI set itself up again inside each timed forward. Records of work
  // between forwards are flushed and dropped here, outside the timed region.
  void begin_forward() override {
    ASDM_CHECK(open_.empty(), "begin_forward inside a forward");
    if (enabled_) {
      rt_.check(rt_.device_synchronize(), "cudaDeviceSynchronize");
      c_.check(c_.flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED), "cuptiActivityFlushAll");
    } else {
      enable();
    }
    {
      std::lock_guard<std::mutex> lock(g_collected.mu);
      g_collected.activities.clear();
      g_collected.correlations.clear();
    }
    size_t earlier = 0;  // the count resets when read: drops before this forward are not its own
    c_.dropped(nullptr, 0, &earlier);
    {
      std::lock_guard<std::mutex> lock(launches_.mu);
      launches_.calls.clear();
      launches_.calls.reserve(1 << 14);
      launches_.current = 0;
    }
    ranges_.clear();
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
    if (callbacks_) {
      std::lock_guard<std::mutex> lock(launches_.mu);
      launches_.current = next_ext_;
    } else {
      c_.check(c_.push(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, next_ext_),
               "cuptiActivityPushExternalCorrelationId");
    }
  }

  void on_exit(const UnitInfo& unit, const at::Tensor&) override {
    ASDM_CHECK(!open_.empty() && ranges_[open_.back()].unit == unit.id,
               "unbalanced unit exit for {}", unit.id);
    if (callbacks_) {
      std::lock_guard<std::mutex> lock(launches_.mu);
      launches_.current = ranges_[open_.back()].parent_ext;
    } else {
      uint64_t last = 0;
      c_.check(c_.pop(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &last),
               "cuptiActivityPopExternalCorrelationId");
    }
    c_.timestamp(&ranges_[open_.back()].exit_ns);
    open_.pop_back();
  }

  ForwardRecord end_forward() override {
    ASDM_CHECK(open_.empty(), "end_forward with {} units still open", open_.size());
    rt_.check(rt_.device_synchronize(), "cudaDeviceSynchronize");
    c_.check(c_.flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED), "cuptiActivityFlushAll");
    size_t dropped = 0;
    c_.dropped(nullptr, 0, &dropped);
    std::vector<ActivityRecord> acts;
    std::vector<ExternalCorrelation> corrs;
    {
      std::lock_guard<std::mutex> lock(g_collected.mu);
      acts.swap(g_collected.activities);
      corrs.swap(g_collected.correlations);
    }
    if (callbacks_) {
      std::lock_guard<std::mutex> lock(launches_.mu);
      corrs.insert(corrs.end(), launches_.calls.begin(), launches_.calls.end());
    }
    return attribute_activity(ranges_, corrs, acts, static_cast<int64_t>(dropped), origin_);
  }

 private:
  void enable() {
    if (api_.mode == "launch") {
      c_.check(c_.subscribe(&subscriber_, reinterpret_cast<CUpti_CallbackFunc>(launch_callback),
                            &launches_),
               "cuptiSubscribe");
      for (auto id : api_.runtime_cbids)
        c_.check(c_.enable_callback(1, subscriber_, CUPTI_CB_DOMAIN_RUNTIME_API, id),
                 "cuptiEnableCallback");
      for (auto id : api_.driver_cbids)
        c_.check(c_.enable_callback(1, subscriber_, CUPTI_CB_DOMAIN_DRIVER_API, id),
                 "cuptiEnableCallback");
      callbacks_ = true;
    }
    // Kernel timestamps from the hardware event system instead of instrumentation around each
    // kernel (which adds 2-3 us of idle GPU per kernel on an H100): only Blackwell has it.
    const CUptiResult hw = c_.enable_hw_trace ? c_.enable_hw_trace(1) : CUPTI_ERROR_NOT_SUPPORTED;
    hw_trace_on_ = hw == CUPTI_SUCCESS;
    hw_trace_ = hw_trace_on_
                    ? "kernel timestamps: hardware trace"
                    : "kernel timestamps: instrumented (hardware trace: " + c_.error(hw) + ")";
    for (auto k : api_.kinds) c_.check(c_.enable(k), "cuptiActivityEnable");
    enabled_ = true;
  }
  // Also called by the destructor: failures are warnings.
  void disable() {
    if (subscriber_) {
      c_.warn(c_.unsubscribe(subscriber_), "cuptiUnsubscribe");  // disables its callbacks
      subscriber_ = nullptr;
    }
    for (auto k : api_.kinds) c_.warn(c_.disable(k), "cuptiActivityDisable");
    if (hw_trace_on_) c_.warn(c_.enable_hw_trace(0), "cuptiActivityEnableHWTrace");
    c_.warn(c_.flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED), "cuptiActivityFlushAll");
    enabled_ = false;
  }
  const CudaRuntime& rt_;
  const Cupti& c_;
  ApiRecords api_;
  LaunchLog launches_;
  CUpti_SubscriberHandle subscriber_ = nullptr;
  bool enabled_ = false, callbacks_ = false, hw_trace_on_ = false;
  std::string hw_trace_ = "kernel timestamps: not yet traced";
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
  const CUptiResult s =
      c->subscribe(&sub, reinterpret_cast<CUpti_CallbackFunc>(no_op_callback), nullptr);
  if (s != CUPTI_SUCCESS) {
    g_live = false;
    *why = s == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED
               ? "another CUPTI client is already subscribed"
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
    if (c->set_attribute) {  // our buffers come zeroed (buffer_requested)
      uint8_t zeroed = 1;
      size_t size = sizeof zeroed;
      c->set_attribute(CUPTI_ACTIVITY_ATTR_ZEROED_OUT_ACTIVITY_BUFFER, &size, &zeroed);
    }
  }
  const CUptiResult e = c->enable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  if (e != CUPTI_SUCCESS) {
    g_live = false;
    *why = "CUPTI activity tracing refused: " + c->error(e);
    return nullptr;
  }
  c->disable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  g_cupti = c;
  try {
    return std::make_unique<CuptiBackend>(rt, *c);
  } catch (...) {  // a bad ASDM_CUPTI_API_RECORDS: the next backend may still be made
    g_live = false;
    throw;
  }
}

}  // namespace asdm

#endif  // ASDM_WITH_CUPTI
