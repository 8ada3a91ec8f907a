#include "profiler/profile_io.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"

namespace asdm {

nlohmann::json to_json(const ProfileReport& r) {
  nlohmann::json units = nlohmann::json::array();
  for (const auto& u : r.units) {
    nlohmann::json j = {{"id", u.id},
                        {"kind", to_string(u.kind)},
                        {"inclusive_ms", to_json(u.inclusive_ms)},
                        {"exclusive_ms", to_json(u.exclusive_ms)},
                        {"params", u.params},
                        {"macs", u.macs},
                        {"attn_macs", u.attn_macs}};
    if (!u.parent.empty()) j["parent"] = u.parent;
    if (r.has_kernels()) {
      j["kernel_sum_ms"] = to_json(u.kernel_sum_ms);
      j["device_span_ms"] = to_json(u.device_span_ms);
      j["kernel_count"] = u.kernel_count;
      nlohmann::json top = nlohmann::json::array();
      for (const auto& k : u.top_kernels)
        top.push_back({{"name", k.name}, {"total_ms", k.total_ms}, {"count", k.count}});
      j["top_kernels"] = top;
    }
    units.push_back(j);
  }
  nlohmann::json j = {
      {"backend", r.backend},
      {"requested_backend", r.requested_backend},
      {"model_device", r.device},
      {"dtype", r.dtype},
      {"input",
       [&] {
         nlohmann::json in = to_json(r.input);
         in["unet_batch"] = r.unet_batch;
         return in;
       }()},
      {"mode",
       r.sampler_steps > 0
           ? nlohmann::json{{"kind", "sampler-loop"},
                            {"sampler", r.sampler},
                            {"steps", r.sampler_steps},
                            {"guidance", r.guidance},
                            {"note",
                             "forward_ms times the whole loop; unit times are per UNet call"}}
       : r.graphs ? nlohmann::json{{"kind", "forward"}, {"cuda_graphs", true}}
                  : nlohmann::json{{"kind", "forward"}}},
      {"forward_ms", to_json(r.forward_ms)},
      {"unobserved_forward_ms", to_json(r.unobserved_ms)},
      {"coverage", r.coverage},
      {"coverage_definition", r.backend == "cupti"
                                  ? "device time of unit-attributed activities / all device time"
                                  : "sum of unit self times / forward time"},
      {"overhead", r.overhead},
      {"overhead_method", r.overhead_method},
      {"units", units}};
  if (!r.fallback_note.empty()) j["fallback_note"] = r.fallback_note;
  if (!r.backend_detail.empty()) j["backend_detail"] = r.backend_detail;
  if (!r.attention_kernels.empty()) j["attention_kernels"] = r.attention_kernels;
  if (!r.kernel_backend.empty()) j["kernel_backend"] = r.kernel_backend;
  if (r.channels_last) j["memory_format"] = "channels_last";
  if (r.has_kernels())
    j["device_activity"] = {{"device_ms", to_json(r.device_ms)},
                            {"activities_per_forward", r.activities},
                            {"unattributed_per_forward", r.unattributed},
                            {"dropped_records", r.dropped}};
  return j;
}

ProfileReport profile_report_from_json(const nlohmann::json& j) {
  ProfileReport r;
  r.backend = j.at("backend").get<std::string>();
  r.requested_backend = j.value("requested_backend", r.backend);
  r.device = j.value("model_device", std::string());
  r.dtype = j.value("dtype", std::string());
  if (j.contains("input")) {
    const auto& in = j.at("input");
    r.input = input_shape_from_json(in);
    r.unet_batch = in.value("unet_batch", r.input.batch);
  }
  if (j.contains("mode") && j.at("mode").value("kind", std::string()) == "sampler-loop") {
    const auto& m = j.at("mode");
    r.sampler = m.at("sampler").get<std::string>();
    r.sampler_steps = m.at("steps").get<int>();
    r.guidance = m.at("guidance").get<double>();
  }
  if (j.contains("mode")) r.graphs = j.at("mode").value("cuda_graphs", false);
  r.channels_last = j.value("memory_format", std::string()) == "channels_last";
  r.forward_ms = summary_from_json(j.at("forward_ms"));
  r.unobserved_ms = summary_from_json(j.at("unobserved_forward_ms"));
  r.coverage = j.value("coverage", 0.0);
  r.overhead = j.value("overhead", 0.0);
  r.overhead_method = j.value("overhead_method", std::string());
  r.fallback_note = j.value("fallback_note", std::string());
  r.backend_detail = j.value("backend_detail", std::string());
  r.kernel_backend = j.value("kernel_backend", std::string());
  r.attention_kernels = j.value("attention_kernels", std::string());
  for (const auto& u : j.at("units")) {
    UnitProfile p;
    p.id = u.at("id").get<std::string>();
    p.kind = unit_kind_from_string(u.at("kind").get<std::string>());
    p.parent = u.value("parent", std::string());
    p.inclusive_ms = summary_from_json(u.at("inclusive_ms"));
    p.exclusive_ms = summary_from_json(u.at("exclusive_ms"));
    p.params = u.value("params", int64_t{0});
    p.macs = u.value("macs", int64_t{0});
    p.attn_macs = u.value("attn_macs", int64_t{0});
    if (u.contains("kernel_sum_ms")) {
      p.kernel_sum_ms = summary_from_json(u.at("kernel_sum_ms"));
      p.device_span_ms = summary_from_json(u.at("device_span_ms"));
      p.kernel_count = u.at("kernel_count").get<int>();
      for (const auto& k : u.at("top_kernels"))
        p.top_kernels.push_back({k.at("name").get<std::string>(), k.at("total_ms").get<double>(),
                                 k.at("count").get<int>()});
    }
    r.units.push_back(p);
  }
  if (j.contains("device_activity")) {
    const auto& d = j.at("device_activity");
    r.device_ms = summary_from_json(d.at("device_ms"));
    r.activities = d.at("activities_per_forward").get<int64_t>();
    r.unattributed = d.at("unattributed_per_forward").get<int64_t>();
    r.dropped = d.at("dropped_records").get<int64_t>();
  }
  return r;
}

nlohmann::json ProfileArtifact::to_json() const {
  nlohmann::json j = header.to_json();
  j["model"] = model;
  j.update(asdm::to_json(report));
  return j;
}

ProfileArtifact ProfileArtifact::from_json(const nlohmann::json& j, const std::string& source) {
  ProfileArtifact a;
  a.header = ArtifactHeader::from_json(j, kArtifact, kSchemaVersion, source, kMadeBy);
  parse_artifact_fields(kArtifact, source, [&] {
    a.model = j.value("model", std::string());
    a.report = profile_report_from_json(j);
  });
  return a;
}

ProfileArtifact ProfileArtifact::read(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void ProfileArtifact::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

ProfileLatency read_profile_latency(const std::filesystem::path& path) {
  const ProfileArtifact a = ProfileArtifact::read(path);
  ProfileLatency p;
  p.path = path.string();
  p.backend = a.report.backend;
  p.device = a.header.device_name;
  p.model = a.model;
  p.forward_ms = a.report.unobserved_ms.median;
  p.input = a.report.input;
  p.sampler_loop = a.report.sampler_steps > 0;
  p.graphs = a.report.graphs;
  p.channels_last = a.report.channels_last;
  for (const auto& u : a.report.units)
    p.units[u.id] = {u.inclusive_ms.median, u.exclusive_ms.median, u.parent};
  if (p.units.empty()) fail("{}: a profile.json without units", path.string());
  return p;
}

double unit_share(const ProfileReport& r) {
  if (r.sampler_steps > 0 || !(r.unobserved_ms.median > 0)) return 0;
  double ms = 0;
  for (const auto& u : r.units)
    if (u.parent.empty()) ms += u.inclusive_ms.median;
  return ms / r.unobserved_ms.median;
}

std::string unit_share_warning(const std::string& where, double share, double forward_ms) {
  if (share >= kMinUnitShare && share <= kMaxUnitShare) return "";
  return fmt::format(
      "warning: in {} the units add up to {:.0f}% of the forward's {:.2f} ms, so the "
      "forward and the units were probably timed under different load (a busy machine?): "
      "predicted speed-ups will be off; profile again when the machine is quieter",
      where, 100 * share, forward_ms);
}

std::string profile_table(const ProfileReport& r) {
  std::vector<const UnitProfile*> rows;
  for (const auto& u : r.units) rows.push_back(&u);
  std::stable_sort(rows.begin(), rows.end(), [](auto* a, auto* b) {
    return a->exclusive_ms.median > b->exclusive_ms.median;
  });
  std::string out = fmt::format("{:<50} {:<17} {:>10} {:>10} {:>7} {:>10}\n", "unit (by self time)",
                                "kind", "self ms", "incl ms", "share", "ms/GMAC");
  for (const auto* u : rows) {
    const double share = u->exclusive_ms.median / r.forward_ms.median;
    const std::string per_gmac =
        u->macs > 0 ? fmt::format("{:.3f}", u->inclusive_ms.median / (u->macs / 1e9)) : "-";
    out +=
        fmt::format("{:<50} {:<17} {:10.2f} {:10.2f} {:6.1f}% {:>10}\n", u->id, to_string(u->kind),
                    u->exclusive_ms.median, u->inclusive_ms.median, 100 * share, per_gmac);
  }
  if (r.sampler_steps > 0)
    out += fmt::format(
        "\nsampler loop: {} {} steps, guidance {:g}, UNet batch {}; unit times are per UNet call, "
        "'forward' is the whole loop",
        r.sampler_steps, r.sampler, r.guidance, r.unet_batch);
  out += fmt::format(
      "\n{} backend; forward timed per unit: median {:.2f} ms (p10 {:.2f}, p90 {:.2f}) over {} "
      "runs; without the unit timing: {:.2f} ms (overhead {:.1f}%); units cover {:.2f}% of the "
      "forward\n",
      r.backend, r.forward_ms.median, r.forward_ms.p10, r.forward_ms.p90, r.forward_ms.n,
      r.unobserved_ms.median, 100 * r.overhead, 100 * r.coverage);
  if (r.has_kernels())
    out += fmt::format(
        "device activity: {:.2f} ms per forward in {} kernels/copies ({} not inside any unit); "
        "{} records dropped\n",
        r.device_ms.median, r.activities, r.unattributed, r.dropped);
  if (!r.backend_detail.empty()) out += r.backend_detail + "\n";
  if (r.channels_last) out += "memory: channels-last (NHWC) weights and activations\n";
  if (!r.attention_kernels.empty()) out += "attention (SDPA): " + r.attention_kernels + "\n";
  if (r.sampler_steps == 0 && !r.units.empty())
    if (const auto w = unit_share_warning("this profile", unit_share(r), r.unobserved_ms.median);
        !w.empty())
      out += w + "\n";
  return out;
}

}  // namespace asdm
