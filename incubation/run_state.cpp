#include "incubation/run_state.h"

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"

namespace asdm {

nlohmann::json IncubationSettings::to_json() const {
  nlohmann::json ph = nlohmann::json::array();
  for (const auto& [name, steps] : phases) ph.push_back({{"name", name}, {"steps", steps}});
  return {{"batch", batch},
          {"lr", lr},
          {"lr_schedule", lr_schedule},
          {"grad_clip", grad_clip},
          {"weight_decay", weight_decay},
          {"weights", weights},
          {"phases", ph},
          {"total_steps", total_steps},
          {"one_shot", one_shot},
          {"ema", ema},
          {"cond_drop", cond_drop},
          {"data", data},
          {"seed", seed},
          {"amp", amp},
          {"teacher_dtype", teacher_dtype},
          {"stream", stream}};
}

IncubationSettings IncubationSettings::from_json(const nlohmann::json& j) {
  IncubationSettings s;
  s.batch = j.at("batch").get<int>();
  s.lr = j.at("lr").get<double>();
  s.lr_schedule = j.at("lr_schedule").get<std::string>();
  s.grad_clip = j.at("grad_clip").get<double>();
  s.weight_decay = j.at("weight_decay").get<double>();
  s.weights = j.at("weights").get<std::map<std::string, double>>();
  for (const auto& p : j.at("phases"))
    s.phases.emplace_back(p.at("name").get<std::string>(), p.at("steps").get<int>());
  s.total_steps = j.at("total_steps").get<int>();
  s.one_shot = j.at("one_shot").get<bool>();
  s.ema = j.at("ema").get<double>();
  s.cond_drop = j.at("cond_drop").get<double>();
  s.data = j.at("data").get<std::string>();
  s.seed = j.at("seed").get<uint64_t>();
  s.amp = j.at("amp").get<bool>();
  s.teacher_dtype = j.value("teacher_dtype", std::string("float32"));
  s.stream = j.value("stream", 1);
  return s;
}

std::string IncubationSettings::first_difference(const IncubationSettings& checkpoint,
                                                 const std::string& here,
                                                 const std::string& there) const {
  const nlohmann::json a = to_json(), b = checkpoint.to_json();
  for (const auto& [k, v] : a.items())
    if (!b.contains(k) || b.at(k) != v)
      return fmt::format("{} = {} {} but {} {}", k, v.dump(), here,
                         b.contains(k) ? b.at(k).dump() : "absent", there);
  return "";
}

nlohmann::json CheckpointState::to_json() const {
  return {{"global_step", global_step},       {"phase_index", phase_index},
          {"phase_step", phase_step},         {"options", options.to_json()},
          {"student_sha256", student_sha256}, {"total_steps", total_steps}};
}

CheckpointState CheckpointState::read(const std::filesystem::path& path) {
  const nlohmann::json j = read_json_file(path);
  CheckpointState s;
  s.global_step = j.at("global_step").get<int>();
  s.phase_index = j.at("phase_index").get<int>();
  s.phase_step = j.at("phase_step").get<int>();
  s.total_steps = j.value("total_steps", 0);
  s.student_sha256 = j.value("student_sha256", std::string());
  s.options = IncubationSettings::from_json(j.at("options"));
  return s;
}

void CheckpointState::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

std::string IncubationLogLine::dump() const {
  nlohmann::json line = {
      {"global_step", global_step}, {"phase", phase},    {"step", step}, {"lr", lr},
      {"grad_norm", grad_norm},     {"seconds", seconds}};
  if (samples_per_s > 0) line["samples_per_s"] = samples_per_s;
  if (peak_bytes > 0) line["peak_bytes"] = peak_bytes;
  if (ranks > 0) line["ranks"] = ranks;
  if (accumulate > 0) line["accumulate"] = accumulate;
  for (const auto& [k, v] : losses) line["loss_" + k] = v;
  return line.dump();
}

std::optional<IncubationLogLine> IncubationLogLine::parse(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    IncubationLogLine l;
    l.global_step = j.at("global_step").get<int>();
    l.step = j.value("step", 0);
    l.phase = j.at("phase").get<std::string>();
    l.lr = j.value("lr", 0.0);
    l.grad_norm = j.value("grad_norm", 0.0);
    l.seconds = j.value("seconds", 0.0);
    l.samples_per_s = j.value("samples_per_s", 0.0);
    l.peak_bytes = j.value("peak_bytes", int64_t(0));
    l.ranks = j.value("ranks", 0);
    l.accumulate = j.value("accumulate", 0);
    for (const auto& [k, v] : j.items())
      if (k.rfind("loss_", 0) == 0 && v.is_number()) l.losses[k.substr(5)] = v.get<double>();
    return l;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::vector<IncubationLogLine> read_incubation_log(const std::filesystem::path& path) {
  std::vector<IncubationLogLine> lines;
  std::ifstream in(path);
  std::string text;
  while (std::getline(in, text))
    if (auto l = IncubationLogLine::parse(text)) lines.push_back(std::move(*l));
  return lines;
}

}  // namespace asdm
