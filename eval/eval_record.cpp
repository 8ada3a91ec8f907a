#include "eval/eval_record.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace asdm {

using nlohmann::json;

std::string EvalSource::label() const {
  auto name = [](const std::string& p) {
    std::filesystem::path path = std::filesystem::path(p).lexically_normal();
    if (path.filename().empty()) path = path.parent_path();
    return path.filename().string();
  };
  if (kind == "images") return name(folder);
  return unet.empty() ? name(model) : name(unet);
}

json to_json(const EvalSource& s) {
  if (s.kind == "images") return {{"kind", "images"}, {"folder", s.folder}};
  return {{"kind", s.kind},
          {"model", s.model},
          {"config", s.config},
          {"unet", s.unet},
          {"steps", s.steps},
          {"guidance", s.guidance},
          {"sampler", s.sampler},
          {"height", s.height},
          {"width", s.width},
          {"clip_skip", s.clip_skip},
          {"seed", s.seed},
          {"score_size", s.score_size},
          {"cache_plan", s.cache_plan}};
}

EvalSource eval_source_from_json(const json& s) {
  EvalSource r;
  r.kind = s.at("kind").get<std::string>();
  r.folder = s.value("folder", std::string());
  r.model = s.value("model", std::string());
  r.config = s.value("config", std::string());
  r.unet = s.value("unet", std::string());
  r.sampler = s.value("sampler", std::string());
  r.steps = s.value("steps", 0);
  r.height = s.value("height", 0);
  r.width = s.value("width", 0);
  r.clip_skip = s.value("clip_skip", 0);
  r.score_size = s.value("score_size", 0);
  r.guidance = s.value("guidance", 0.0);
  r.seed = s.value("seed", uint64_t{0});
  r.cache_plan = s.value("cache_plan", std::string());
  return r;
}

const EvalMetric* EvalRecord::find(const std::string& name) const {
  for (const auto& m : metrics)
    if (m.name == name) return &m;
  return nullptr;
}

json EvalRecord::to_json() const {
  json j = header.to_json();
  j["n"] = n;
  j["source"] = asdm::to_json(source);
  j["captions"] = captions.empty() ? json(nullptr) : json(captions);
  j["batch"] = batch;
  j["dtype"] = dtype;
  json ms = json::object();
  for (const auto& m : metrics) {
    json e = {{"value", m.value}, {"n", m.n}, {"definition", m.definition}};
    if (m.std) e["std"] = *m.std;
    if (!m.weights_sha256.empty()) e["weights_sha256"] = m.weights_sha256;
    if (!m.mode.empty()) e["mode"] = m.mode;
    if (m.dims) e["dims"] = m.dims;
    if (m.splits) e["splits"] = m.splits;
    if (!m.model.empty()) e["model"] = {{"name", m.model}, {"flavour", m.flavour}};
    if (!m.reference.empty()) {
      e["reference"] = {{"path", m.reference}, {"n", m.reference_n}};
      if (!m.reference_sha256.empty()) e["reference"]["sha256"] = m.reference_sha256;
    }
    ms[m.name] = e;
  }
  j["metrics"] = ms;
  j["statistics"] = statistics.empty() ? json(nullptr) : json(statistics);
  j["timing"] = {{"features_s", features_s}, {"images_per_s", images_per_s}};
  return j;
}

EvalRecord EvalRecord::from_json(const json& j, const std::string& source) {
  EvalRecord r;
  r.header = ArtifactHeader::from_json(j, kArtifact, kSchemaVersion, source, kMadeBy);
  parse_artifact_fields(kArtifact, source, [&] {
    r.n = j.at("n").get<int64_t>();
    r.source = eval_source_from_json(j.at("source"));
    r.captions = j.at("captions").is_null() ? "" : j.at("captions").get<std::string>();
    r.batch = j.at("batch").get<int>();
    r.dtype = j.at("dtype").get<std::string>();
    for (const auto& [name, e] : j.at("metrics").items()) {
      EvalMetric m;
      m.name = name;
      m.value = e.at("value").get<double>();
      if (e.contains("std")) m.std = e.at("std").get<double>();
      m.n = e.at("n").get<int64_t>();
      m.definition = e.at("definition").get<std::string>();
      m.weights_sha256 = e.value("weights_sha256", std::string());
      m.mode = e.value("mode", std::string());
      m.dims = e.value("dims", 0);
      m.splits = e.value("splits", 0);
      if (e.contains("model")) {
        m.model = e.at("model").at("name").get<std::string>();
        m.flavour = e.at("model").at("flavour").get<std::string>();
      }
      if (e.contains("reference")) {
        const auto& ref = e.at("reference");
        m.reference = ref.at("path").get<std::string>();
        m.reference_n = ref.value("n", int64_t{0});
        m.reference_sha256 = ref.value("sha256", std::string());
      }
      r.metrics.push_back(m);
    }
    r.statistics = j.at("statistics").is_null() ? "" : j.at("statistics").get<std::string>();
    r.features_s = j.at("timing").at("features_s").get<double>();
    r.images_per_s = j.at("timing").at("images_per_s").get<double>();
  });
  return r;
}

EvalRecord EvalRecord::read(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void EvalRecord::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

std::string eval_table(const EvalRecord& r) {
  std::string out;
  for (const auto& m : r.metrics)
    out += m.std ? fmt::format("{:<16} {:.6g} ± {:.3g}  (n = {})\n", m.name, m.value, *m.std, m.n)
                 : fmt::format("{:<16} {:.6g}  (n = {})\n", m.name, m.value, m.n);
  return out;
}

}  // namespace asdm
