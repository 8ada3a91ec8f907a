#include "core/score_memo.h"

#include <exception>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"

namespace asdm {

ScoreMemo::ScoreMemo(std::filesystem::path file, std::string identity, std::string what,
                     const std::function<void(const std::string&)>& note)
    : file_(std::move(file)), identity_(std::move(identity)), what_(std::move(what)) {
  if (file_.empty() || identity_.empty() || !std::filesystem::exists(file_)) return;
  std::string why;
  try {
    const nlohmann::json j = read_json_file(file_);
    if (j.value("identity", std::string()) == identity_) {
      scores_ = j.at("scores").get<std::map<std::string, double>>();
      for (const auto& [k, v] : scores_) loaded_.insert(k);
    } else {
      why = "holds scores of other settings (model, prompts, metric or sampler)";
    }
  } catch (const std::exception& e) {
    why = std::string("is unreadable (") + e.what() + ")";
  }
  if (!why.empty() && note) note(fmt::format("{} {}: scoring afresh", file_.string(), why));
}

std::vector<double> ScoreMemo::scores(
    const std::vector<std::string>& keys,
    const std::function<std::vector<double>(const std::vector<size_t>& missing)>& compute) {
  std::vector<double> out(keys.size());
  std::vector<size_t> missing;
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto it = scores_.find(keys[i]);
    if (it == scores_.end()) {
      missing.push_back(i);
      continue;
    }
    out[i] = it->second;
    kept_ += loaded_.count(keys[i]) > 0;
  }
  if (missing.empty()) return out;
  const std::vector<double> got = compute(missing);
  ASDM_CHECK(got.size() == missing.size(), "{} scores for {} keys", got.size(), missing.size());
  for (size_t k = 0; k < missing.size(); ++k) {
    out[missing[k]] = got[k];
    scores_[keys[missing[k]]] = got[k];
  }
  computed_ += int(got.size());
  if (!file_.empty() && !identity_.empty()) {
    if (file_.has_parent_path()) std::filesystem::create_directories(file_.parent_path());
    write_json_atomic(file_, {{"artifact", "scores"},
                              {"what", what_},
                              {"identity", identity_},
                              {"note",
                               "scores by key, computed by asdm; used again by the same command "
                               "with the same identity (a run killed in the middle continues)"},
                              {"scores", scores_}});
  }
  return out;
}

}  // namespace asdm
