#include "model/cache_plan.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/json_int.h"
#include "core/suggest.h"

namespace asdm {

std::set<std::string> CachePlan::units() const {
  std::set<std::string> all;
  for (const auto& call : reuse) all.insert(call.begin(), call.end());
  return all;
}

int CachePlan::reusing_calls() const {
  int n = 0;
  for (size_t c = 0; c < reuse.size(); ++c) n += !reuse[c].empty() || skips(int(c));
  return n;
}

void CachePlan::check(const ArchSpec& m, int n) const {
  if (!same_config(model.teacher, m.teacher))
    fail("the cache plan was made for another model (its teacher config differs)");
  if (!(model.edits == m.edits))
    fail(
        "the cache plan was made for another architecture of this teacher ({} edits, the model "
        "has {})",
        model.edits.size(), m.edits.size());
  if (calls != n)
    fail(
        "the cache plan covers {} model calls, this sampler makes {} (steps and sampler must "
        "match the plan's)",
        calls, n);
  if (int(reuse.size()) != calls)
    fail("the cache plan lists {} calls but says it covers {}", reuse.size(), calls);
  const UNetLayout layout = m.student_layout();
  const std::set<std::string> removed = m.removed_units();
  if (!skip.empty() && int(skip.size()) != calls)
    fail("the cache plan marks {} calls for skipping but covers {}", skip.size(), calls);
  if (skip_layers < -1) fail("the cache plan keeps {} layers (-1: whole blocks)", skip_layers);
  if (skip_layers >= 0 && skip_level == 0)
    fail("the cache plan keeps {} layer(s) inside a block but has no skip level", skip_layers);
  if (skip_level != 0 || std::find(skip.begin(), skip.end(), true) != skip.end()) {
    int deepest = 0;
    for (const auto& b : layout.down) deepest = std::max(deepest, b.level);
    if (skip_level < 1 || skip_level > deepest)
      fail("the cache plan skips from resolution level {}; this model's levels to skip are 1..{}",
           skip_level, deepest);
    if (skips(0)) fail("the cache plan skips the deep part at call 0, before any call ran it");
    if (skip_layers >= 0) {
      const BlockInfo* down = nullptr;
      const BlockInfo* up = nullptr;
      for (const auto& b : layout.down)
        if (b.level == skip_level - 1) down = &b;
      for (const auto& b : layout.up)
        if (b.level == skip_level - 1) up = &b;
      const int layers = down ? int(down->resnets.size()) : 0;
      if (!down || !up || skip_layers > layers)
        fail(
            "the cache plan keeps {} layer(s) of the blocks at level {}; this model's down block "
            "there has {}",
            skip_layers, skip_level - 1, layers);
      if (int(up->resnets.size()) != layers + 1)
        fail(
            "the cache plan skips inside the blocks at level {}, whose up block has {} layers "
            "for the down block's {} (needs one more)",
            skip_level - 1, up->resnets.size(), layers);
    }
  }
  std::set<std::string> computed;
  const std::set<std::string> all = units();
  for (int c = 0; c < calls; ++c) {
    for (const auto& id : reuse[c]) {
      const UnitInfo* u = layout.find(id);
      if (!u)
        fail("the cache plan reuses {}, which the model does not have{}", id,
             did_you_mean_id(id, layout.ids()));
      if (!u->removable())
        fail(
            "the cache plan reuses {}, which has no shortcut and branch (not a resnet, attention "
            "or transformer unit)",
            id);
      if (removed.count(id)) fail("the cache plan reuses {}, which the model removes", id);
      if (!computed.count(id))
        fail("the cache plan reuses {} at call {} before any call computed it", id, c);
    }
    for (const auto& id : all)
      if (std::find(reuse[c].begin(), reuse[c].end(), id) == reuse[c].end()) computed.insert(id);
  }
}

CachePlan CachePlan::uniform(const ArchSpec& m, const std::vector<std::string>& units, int interval,
                             int n) {
  if (interval < 1) fail("a uniform cache plan needs an interval of at least 1, got {}", interval);
  if (n < 1) fail("a cache plan needs at least one model call, got {}", n);
  CachePlan p;
  p.model = m;
  p.calls = n;
  p.reuse.resize(size_t(n));
  for (int c = 0; c < n; ++c)
    if (c % interval != 0) p.reuse[size_t(c)] = units;
  p.policy =
      fmt::format("uniform: every {} call(s) computes {} unit(s), the calls between reuse them",
                  interval, units.size());
  return p;
}

CachePlan CachePlan::uniform_skip(const ArchSpec& m, int level, int interval, int n, int layers) {
  CachePlan p = uniform(m, {}, interval, n);
  p.skip_level = level;
  p.skip_layers = layers;
  p.skip.assign(size_t(n), false);
  for (int c = 0; c < n; ++c) p.skip[size_t(c)] = c % interval != 0;
  p.policy = fmt::format(
      "uniform skip branch: every {} call(s) runs the whole network, the calls between skip "
      "resolution level {} and below{}",
      interval, level,
      layers < 0 ? std::string()
                 : fmt::format(" and the blocks at level {} but their outer {} down and {} up "
                               "layer(s)",
                               level - 1, layers, layers + 1));
  return p;
}

nlohmann::json CachePlan::to_json() const {
  nlohmann::json j = header.to_json();
  j["model"] = asdm::to_json(model);
  j["calls"] = calls;
  j["reuse"] = reuse;
  if (skip_level != 0) {
    j["skip_level"] = skip_level;
    if (skip_layers >= 0) j["skip_layers"] = skip_layers;
    j["skip"] = skip;
  }
  j["policy"] = policy;
  return j;
}

CachePlan CachePlan::from_json(const nlohmann::json& j, const std::string& source) {
  CachePlan p;
  p.header = ArtifactHeader::from_json(j, kArtifact, kSchemaVersion, source, kMadeBy);
  try {
    p.model = arch_spec_from_json(j.at("model"));
    const auto calls = json_int(j.at("calls"), 1);
    if (!calls) fail("{}: 'calls' must be a positive integer, got {}", source, j["calls"].dump());
    p.calls = *calls;
    p.reuse = j.at("reuse").get<std::vector<std::vector<std::string>>>();
    p.policy = j.value("policy", std::string());
    p.skip_level = j.value("skip_level", 0);
    p.skip_layers = j.value("skip_layers", -1);
    if (j.contains("skip")) p.skip = j.at("skip").get<std::vector<bool>>();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: {}", source, json_error_text(e.what()));
  }
  return p;
}

CachePlan CachePlan::read(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void CachePlan::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

}  // namespace asdm
