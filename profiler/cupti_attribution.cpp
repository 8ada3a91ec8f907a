#include "profiler/cupti_attribution.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <unordered_map>

#include "core/error.h"

namespace asdm {

bool launches_device_work(std::string_view n) {
  return n.find("Launch") != n.npos || n.find("Memcpy") != n.npos || n.find("Memset") != n.npos;
}

uint64_t union_length(std::vector<std::pair<uint64_t, uint64_t>> v) {
  std::sort(v.begin(), v.end());
  uint64_t total = 0, cur_start = 0, cur_end = 0;
  bool open = false;
  for (const auto& [s, e] : v) {
    if (e <= s) continue;
    if (!open || s > cur_end) {
      if (open) total += cur_end - cur_start;
      cur_start = s;
      cur_end = e;
      open = true;
    } else {
      cur_end = std::max(cur_end, e);
    }
  }
  if (open) total += cur_end - cur_start;
  return total;
}

ForwardRecord attribute_activity(const std::vector<RangeRecord>& ranges,
                                 const std::vector<ExternalCorrelation>& correlations,
                                 const std::vector<ActivityRecord>& activities, int64_t dropped,
                                 uint64_t origin_ns, int top) {
  std::unordered_map<uint64_t, size_t> range_of;  // ext id -> index in ranges
  for (size_t i = 0; i < ranges.size(); ++i) {
    ASDM_CHECK(ranges[i].ext_id != 0, "external correlation id 0 is reserved");
    ASDM_CHECK(range_of.emplace(ranges[i].ext_id, i).second, "duplicate external id {}",
               ranges[i].ext_id);
  }
  std::unordered_map<uint32_t, uint64_t> ext_of;  // API correlation id -> external id
  for (const auto& c : correlations) {
    if (range_of.count(c.ext_id)) ext_of[c.correlation_id] = c.ext_id;
  }

  struct Acc {
    std::vector<std::pair<uint64_t, uint64_t>> self, incl;
    uint64_t incl_sum = 0, first = UINT64_MAX, last = 0;
    int incl_count = 0;
    std::map<std::string, KernelStat> kernels;
  };
  std::vector<Acc> acc(ranges.size());
  ForwardRecord r;
  uint64_t total_ns = 0, attributed_ns = 0;
  for (const auto& a : activities) {
    const uint64_t dur = a.end_ns > a.start_ns ? a.end_ns - a.start_ns : 0;
    total_ns += dur;
    ++r.activities;
    DeviceSlice slice;
    slice.name = a.name;
    slice.stream = a.stream;
    slice.start_ms = (double(a.start_ns) - double(origin_ns)) / 1e6;
    slice.dur_ms = dur / 1e6;
    auto it = ext_of.find(a.correlation_id);
    if (it == ext_of.end()) {
      ++r.unattributed;
      r.device.push_back(std::move(slice));
      continue;
    }
    attributed_ns += dur;
    size_t i = range_of.at(it->second);
    slice.unit = ranges[i].unit;
    r.device.push_back(std::move(slice));
    acc[i].self.emplace_back(a.start_ns, a.end_ns);
    auto& k = acc[i].kernels[a.name];
    k.name = a.name;
    k.total_ms += dur / 1e6;
    ++k.count;
    // Roll up through every enclosing unit.
    for (size_t j = i;;) {
      acc[j].incl.emplace_back(a.start_ns, a.end_ns);
      acc[j].incl_sum += dur;
      acc[j].first = std::min(acc[j].first, a.start_ns);
      acc[j].last = std::max(acc[j].last, a.end_ns);
      ++acc[j].incl_count;
      const uint64_t parent = ranges[j].parent_ext;
      if (parent == 0) break;
      auto p = range_of.find(parent);
      ASDM_CHECK(p != range_of.end(), "unit {} has an unknown parent range {}", ranges[j].unit,
                 parent);
      j = p->second;
    }
  }

  std::vector<size_t> order(ranges.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return ranges[a].exit_ns < ranges[b].exit_ns; });
  for (size_t i : order) {
    const RangeRecord& rr = ranges[i];
    UnitSample s;
    s.id = rr.unit;
    s.start_ms = (double(rr.enter_ns) - double(origin_ns)) / 1e6;
    s.inclusive_ms = union_length(acc[i].incl) / 1e6;
    s.span_ms = rr.exit_ns > rr.enter_ns ? (rr.exit_ns - rr.enter_ns) / 1e6 : 0.0;
    s.exclusive_ms = union_length(acc[i].self) / 1e6;
    for (uint64_t p = rr.parent_ext; p != 0; p = ranges[range_of.at(p)].parent_ext) ++s.depth;
    s.kernel_sum_ms = acc[i].incl_sum / 1e6;
    s.kernel_count = acc[i].incl_count;
    s.device_span_ms = acc[i].last > acc[i].first ? (acc[i].last - acc[i].first) / 1e6 : 0.0;
    for (auto& [name, k] : acc[i].kernels) s.top_kernels.push_back(k);
    std::stable_sort(
        s.top_kernels.begin(), s.top_kernels.end(),
        [](const KernelStat& a, const KernelStat& b) { return a.total_ms > b.total_ms; });
    if (static_cast<int>(s.top_kernels.size()) > top) s.top_kernels.resize(top);
    r.units.push_back(std::move(s));
  }
  r.device_total_ms = total_ns / 1e6;
  r.device_attributed_ms = attributed_ns / 1e6;
  r.dropped = dropped;
  return r;
}

}  // namespace asdm
