#include "profiler/event_backend.h"

#include "core/error.h"

namespace asdm {

CudaEventBackend::CudaEventBackend(const CudaRuntime& rt) : rt_(rt) {}

CudaEventBackend::~CudaEventBackend() {
  for (void* e : pool_) rt_.warn(rt_.event_destroy(e), "cudaEventDestroy");
}

void* CudaEventBackend::next_event() {
  if (used_ == pool_.size()) {
    void* e = nullptr;
    rt_.check(rt_.event_create(&e), "cudaEventCreate");
    pool_.push_back(e);
  }
  return pool_[used_++];
}

void CudaEventBackend::begin_forward() {
  ASDM_CHECK(open_.empty(), "begin_forward inside a forward");
  used_ = 0;
  ranges_.clear();
  exit_order_.clear();
  origin_ = next_event();
  record(origin_);
}

void CudaEventBackend::on_enter(const UnitInfo& unit) {
  void* e = next_event();
  record(e);
  ranges_.push_back(
      {&unit, e, nullptr, static_cast<int>(open_.size()), open_.empty() ? -1 : open_.back()});
  open_.push_back(static_cast<int>(ranges_.size()) - 1);
}

void CudaEventBackend::on_exit(const UnitInfo& unit, const at::Tensor&) {
  ASDM_CHECK(!open_.empty() && ranges_[open_.back()].unit == &unit, "unbalanced unit exit for {}",
             unit.id);
  void* e = next_event();
  record(e);
  ranges_[open_.back()].exit = e;
  exit_order_.push_back(open_.back());
  open_.pop_back();
}

void CudaEventBackend::record(void* event) {
  if (into_graph_) {
    if (!rt_.event_record_with_flags)
      fail("CUDA events inside a graph need cudaEventRecordWithFlags, which libcudart lacks");
    rt_.check(rt_.event_record_with_flags(event, stream_, CudaRuntime::kEventRecordExternal),
              "cudaEventRecordWithFlags (external, into the graph)");
  } else {
    rt_.check(rt_.event_record(event, stream_), "cudaEventRecord");
  }
}

void CudaEventBackend::set_stream(void* stream, bool into_graph) {
  ASDM_CHECK(open_.empty(), "set_stream inside a forward");
  stream_ = stream;
  into_graph_ = into_graph;
}

ForwardRecord CudaEventBackend::end_forward() {
  ASDM_CHECK(open_.empty(), "end_forward with {} units still open", open_.size());
  if (into_graph_) return {};
  return collect();
}

ForwardRecord CudaEventBackend::collect() {
  ASDM_CHECK(open_.empty(), "collect with {} units still open", open_.size());
  ForwardRecord r;
  if (ranges_.empty()) return r;
  rt_.check(rt_.event_synchronize(ranges_[exit_order_.back()].exit), "cudaEventSynchronize");
  auto elapsed = [&](void* a, void* b) {
    float ms = 0;
    rt_.check(rt_.event_elapsed_time(&ms, a, b), "cudaEventElapsedTime");
    return double(ms);
  };
  std::vector<double> inclusive(ranges_.size()), children(ranges_.size(), 0.0);
  for (size_t i = 0; i < ranges_.size(); ++i) {
    inclusive[i] = elapsed(ranges_[i].enter, ranges_[i].exit);
    if (ranges_[i].parent >= 0) children[ranges_[i].parent] += inclusive[i];
  }
  for (int i : exit_order_) {
    UnitSample s;
    s.id = ranges_[i].unit->id;
    s.start_ms = elapsed(origin_, ranges_[i].enter);
    s.inclusive_ms = inclusive[i];
    s.exclusive_ms = std::max(0.0, inclusive[i] - children[i]);
    s.depth = ranges_[i].depth;
    s.span_ms = s.inclusive_ms;
    r.units.push_back(std::move(s));
  }
  return r;
}

}  // namespace asdm
