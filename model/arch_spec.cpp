#include "model/arch_spec.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "core/json_int.h"

namespace asdm {
namespace {

using nlohmann::json;
constexpr int kArchSchemaVersion = 1;

const char* op_name(Edit::Op op) {
  switch (op) {
    case Edit::Op::kRemove:
      return "remove";
    case Edit::Op::kDropLayer:
      return "drop_layer";
    case Edit::Op::kDropMid:
      return "drop_mid";
    case Edit::Op::kDropStage:
      return "drop_stage";
    case Edit::Op::kGri:
      return "gri";
    case Edit::Op::kClme:
      return "clme";
  }
  return "?";
}

// Which teacher block/layer indices survive the structural edits; used for the config and for the
// student -> teacher key map.
struct IndexMap {
  std::vector<int> stages;               // student stage -> teacher stage
  std::vector<std::vector<int>> layers;  // per student stage: student layer -> teacher layer
  bool mid = true;
};

IndexMap index_map(const ArchSpec& spec) {
  IndexMap m;
  const int n = spec.teacher.num_stages();
  for (int i = 0; i < n; ++i) {
    m.stages.push_back(i);
    std::vector<int> l(spec.teacher.layers_per_block[i]);
    for (int j = 0; j < static_cast<int>(l.size()); ++j) l[j] = j;
    m.layers.push_back(l);
  }
  for (const auto& e : spec.edits) {
    const int stages = static_cast<int>(m.stages.size());
    switch (e.op) {
      case Edit::Op::kRemove:
      case Edit::Op::kGri:
      case Edit::Op::kClme:
        break;
      case Edit::Op::kDropMid:
        if (!m.mid || !spec.teacher.has_mid_block())
          fail("edit drop_mid: the UNet has no mid block");
        m.mid = false;
        break;
      case Edit::Op::kDropStage:
        if (e.stage < 0 || e.stage >= stages)
          fail("edit drop_stage: stage {} does not exist (stages 0..{})", e.stage, stages - 1);
        if (stages == 1) fail("edit drop_stage: cannot drop the last remaining stage");
        m.stages.erase(m.stages.begin() + e.stage);
        m.layers.erase(m.layers.begin() + e.stage);
        break;
      case Edit::Op::kDropLayer: {
        if (e.stage < 0 || e.stage >= stages)
          fail("edit drop_layer: stage {} does not exist (stages 0..{})", e.stage, stages - 1);
        auto& l = m.layers[e.stage];
        if (e.index < 0 || e.index >= static_cast<int>(l.size()))
          fail("edit drop_layer: stage {} has no layer {} (layers 0..{})", e.stage, e.index,
               l.size() - 1);
        if (l.size() == 1) fail("edit drop_layer: stage {} would have no layers left", e.stage);
        l.erase(l.begin() + e.index);
        break;
      }
    }
  }
  return m;
}

template <class T>
std::vector<T> pick(const std::vector<T>& v, const std::vector<int>& idx) {
  std::vector<T> out;
  for (int i : idx) out.push_back(v[i]);
  return out;
}

}  // namespace

Edit Edit::remove(std::string unit_id) {
  Edit e;
  e.op = Op::kRemove;
  e.unit = std::move(unit_id);
  return e;
}
Edit Edit::drop_layer(int stage, int index) {
  Edit e;
  e.op = Op::kDropLayer;
  e.stage = stage;
  e.index = index;
  return e;
}
Edit Edit::drop_mid() {
  Edit e;
  e.op = Op::kDropMid;
  return e;
}
Edit Edit::drop_stage(int stage) {
  Edit e;
  e.op = Op::kDropStage;
  e.stage = stage;
  return e;
}
Edit Edit::gri(std::string unit_id, int window, int pool) {
  Edit e;
  e.op = Op::kGri;
  e.unit = std::move(unit_id);
  e.window = window;
  e.pool = pool;
  return e;
}

Edit Edit::clme(std::string unit_id, std::vector<std::string> experts) {
  Edit e;
  e.op = Op::kClme;
  e.unit = std::move(unit_id);
  e.experts = std::move(experts);
  return e;
}

ArchSpec arch_from_config(const UNetConfig& teacher) {
  ArchSpec s;
  s.teacher = teacher;
  return s;
}

UNetConfig ArchSpec::student_config() const {
  const IndexMap m = index_map(*this);
  const UNetConfig& t = teacher;
  UNetConfig c = t;
  const int n = t.num_stages();
  std::vector<int> up_idx;  // teacher up-block indices kept, in up order
  for (int i = static_cast<int>(m.stages.size()) - 1; i >= 0; --i)
    up_idx.push_back(n - 1 - m.stages[i]);
  c.down_block_types = pick(t.down_block_types, m.stages);
  c.up_block_types = pick(t.up_block_types, up_idx);
  c.block_out_channels = pick(t.block_out_channels, m.stages);
  c.num_attention_heads = pick(t.num_attention_heads, m.stages);
  c.cross_attention_dim = pick(t.cross_attention_dim, m.stages);
  c.transformer_layers_per_block = pick(t.transformer_layers_per_block, m.stages);
  c.only_cross_attention = pick(t.only_cross_attention, m.stages);
  if (!t.reverse_transformer_layers_per_block.empty())
    c.reverse_transformer_layers_per_block = pick(t.reverse_transformer_layers_per_block, up_idx);
  c.layers_per_block.clear();
  for (const auto& l : m.layers) c.layers_per_block.push_back(static_cast<int>(l.size()));
  if (!m.mid) c.mid_block_type.clear();
  return c;
}

UNetLayout ArchSpec::student_layout() const { return make_layout(student_config()); }

std::set<std::string> ArchSpec::removed_units() const {
  std::set<std::string> out;
  std::optional<UNetLayout> layout;
  for (const auto& e : edits) {
    if (e.op != Edit::Op::kRemove) continue;
    if (!layout) layout = student_layout();
    const UnitInfo& u = layout->at(e.unit);
    if (!u.removable())
      fail(
          "unit '{}' is a {} and cannot be removed (removable kinds: resblock, attention, "
          "transformer_block)",
          e.unit, to_string(u.kind));
    out.insert(e.unit);
  }
  return out;
}

std::map<std::string, GriOptions> ArchSpec::gri_units() const {
  std::map<std::string, GriOptions> out;
  std::optional<UNetLayout> layout;
  std::set<std::string> removed;
  for (const auto& e : edits) {
    if (e.op != Edit::Op::kGri) continue;
    if (!layout) {
      layout = student_layout();
      removed = removed_units();
    }
    const UnitInfo& u = layout->at(e.unit);
    if (u.kind != UnitKind::kAttention)
      fail("edit gri: unit '{}' is a {}; GRI replaces the self-attention of an attention unit",
           e.unit, to_string(u.kind));
    if (u.only_cross_attention)
      fail("edit gri: unit '{}' has no self-attention (only_cross_attention)", e.unit);
    if (removed.count(e.unit)) fail("edit gri: unit '{}' is also removed", e.unit);
    if (e.window < 1 || e.pool < 0)
      fail("edit gri: unit '{}' needs window >= 1 and pool >= 0 (got {}, {})", e.unit, e.window,
           e.pool);
    out[e.unit] = GriOptions{e.window, e.pool};
  }
  return out;
}

std::map<std::string, ClmeOptions> ArchSpec::clme_units() const {
  std::map<std::string, ClmeOptions> out;
  std::optional<UNetLayout> layout;
  std::set<std::string> removed;
  for (const auto& e : edits) {
    if (e.op != Edit::Op::kClme) continue;
    if (!layout) {
      layout = student_layout();
      removed = removed_units();
    }
    const UnitInfo& u = layout->at(e.unit);
    if (u.kind != UnitKind::kResBlock)
      fail(
          "edit clme: unit '{}' is not a resblock ({}); CLME-CondConv replaces a resblock's "
          "convolutions",
          e.unit, to_string(u.kind));
    if (removed.count(e.unit)) fail("edit clme: unit '{}' is also removed", e.unit);
    if (out.count(e.unit)) fail("edit clme: unit '{}' has two clme edits", e.unit);
    if (e.experts.empty())
      fail("edit clme: unit '{}' needs at least one expert (a removed sibling resblock)", e.unit);
    ClmeOptions o;
    std::set<std::string> seen;
    for (const auto& x : e.experts) {
      const UnitInfo& eu = layout->at(x);
      if (eu.kind != UnitKind::kResBlock || eu.stage != u.stage || eu.block != u.block ||
          x == e.unit)
        fail("edit clme: expert '{}' of '{}' is not a sibling resblock (same block)", x, e.unit);
      if (!removed.count(x))
        fail("edit clme: expert '{}' of '{}' is not removed (experts come from removed blocks)", x,
             e.unit);
      if (!seen.insert(x).second)
        fail("edit clme: expert '{}' is listed twice for '{}'", x, e.unit);
      if (eu.in_channels == u.in_channels) o.conv1.push_back(x);
      if (eu.out_channels == u.out_channels) o.conv2.push_back(x);
    }
    if (o.conv1.empty() && o.conv2.empty())
      fail("edit clme: no expert of '{}' has a kernel of its shape", e.unit);
    out[e.unit] = o;
  }
  return out;
}

bool ArchSpec::diffusers_expressible() const {
  return std::none_of(edits.begin(), edits.end(), [](const Edit& e) {
    return e.op == Edit::Op::kRemove || e.op == Edit::Op::kGri || e.op == Edit::Op::kClme;
  });
}

std::string ArchSpec::teacher_key(const std::string& key) const {
  // CLME tensors: "<unit>.conv1.router.weight" is new; "<unit>.conv1.experts.<k>.weight" is the
  // k-th fitting expert's "<expert>.conv1.weight".
  for (const char* conv : {".conv1.", ".conv2."}) {
    const size_t p = key.find(conv);
    if (p == std::string::npos) continue;
    const std::string rest = key.substr(p + std::strlen(conv));
    if (rest.rfind("router.", 0) == 0) return "";
    if (rest.rfind("experts.", 0) != 0) continue;
    const std::string unit = key.substr(0, p);
    const auto clme = clme_units();
    const auto it = clme.find(unit);
    if (it == clme.end()) return key;
    const size_t d = rest.find('.', 8);
    const int k = std::stoi(rest.substr(8, d - 8));
    const auto& list = conv[5] == '1' ? it->second.conv1 : it->second.conv2;
    if (k < 0 || k >= static_cast<int>(list.size())) return key;
    return teacher_key(list[k] + std::string(conv).substr(0, 6) + rest.substr(d));
  }
  const IndexMap m = index_map(*this);
  const int n = teacher.num_stages();
  const int sn = static_cast<int>(m.stages.size());
  // Parses "<group>.<i>.<kind>.<j>.rest" for down/up blocks and remaps both indices.
  auto remap = [&](std::string_view group, bool up) -> std::optional<std::string> {
    const std::string prefix = std::string(group) + ".";
    if (key.rfind(prefix, 0) != 0) return std::nullopt;
    size_t p = prefix.size();
    size_t dot = key.find('.', p);
    if (dot == std::string::npos) return std::nullopt;
    const int si = std::stoi(key.substr(p, dot - p));
    if (si < 0 || si >= sn) return std::nullopt;
    const int stage_student = up ? sn - 1 - si : si;
    const int stage_teacher = m.stages[stage_student];
    const int ti = up ? n - 1 - stage_teacher : stage_teacher;
    std::string rest = key.substr(dot + 1);
    // Remap the layer index of resnets/attentions. Up blocks have one layer more than down
    // stages; their last layer (the one taking the stage's input skip) maps to the teacher's last.
    for (const char* kind : {"resnets.", "attentions."}) {
      if (rest.rfind(kind, 0) != 0) continue;
      size_t q = std::strlen(kind);
      size_t d2 = rest.find('.', q);
      const int lj =
          std::stoi(rest.substr(q, d2 == std::string::npos ? std::string::npos : d2 - q));
      const auto& layers = m.layers[stage_student];
      int tj = lj;
      if (lj < static_cast<int>(layers.size())) {
        tj = layers[lj];
      } else if (up && lj == static_cast<int>(layers.size())) {
        tj = teacher.layers_per_block[stage_teacher];
      }
      rest =
          std::string(kind) + std::to_string(tj) + (d2 == std::string::npos ? "" : rest.substr(d2));
      break;
    }
    return std::string(group) + "." + std::to_string(ti) + "." + rest;
  };
  if (auto k = remap("down_blocks", false)) return *k;
  if (auto k = remap("up_blocks", true)) return *k;
  return key;
}

json to_json(const ArchSpec& spec) {
  json edits = json::array();
  for (const auto& e : spec.edits) {
    json je = {{"op", op_name(e.op)}};
    if (e.op == Edit::Op::kRemove || e.op == Edit::Op::kGri || e.op == Edit::Op::kClme)
      je["unit"] = e.unit;
    if (e.op == Edit::Op::kClme) je["experts"] = e.experts;
    if (e.op == Edit::Op::kGri) {
      je["window"] = e.window;
      je["pool"] = e.pool;
    }
    if (e.op == Edit::Op::kDropLayer || e.op == Edit::Op::kDropStage) je["stage"] = e.stage;
    if (e.op == Edit::Op::kDropLayer) je["index"] = e.index;
    edits.push_back(je);
  }
  return {{"artifact", "arch_spec"},
          {"schema_version", kArchSchemaVersion},
          {"teacher_config", to_diffusers_json(spec.teacher)},
          {"edits", edits}};
}

ArchSpec read_arch_spec(const std::filesystem::path& path) {
  const json j = read_json_file(path);
  try {
    return arch_spec_from_json(j);
  } catch (const Error& e) {
    fail("{}: {}", path.string(), e.what());
  }
}

ArchSpec arch_spec_from_json(const json& j) {
  if (!j.is_object() || !j.contains("teacher_config"))
    fail("an ArchSpec needs a 'teacher_config' object and an 'edits' list");
  if (j.contains("schema_version") && j["schema_version"] != kArchSchemaVersion)
    fail("ArchSpec schema_version {} is not supported (this asdm reads {})",
         j["schema_version"].dump(), kArchSchemaVersion);
  ArchSpec s;
  s.teacher = parse_unet_config(j["teacher_config"]);
  const json edits = j.value("edits", json::array());
  if (!edits.is_array()) fail("ArchSpec 'edits' must be a list");
  for (const auto& je : edits) {
    const std::string op = je.value("op", "");
    auto need_int = [&](const char* f) {
      const auto v = je.contains(f) ? json_int(je[f]) : std::nullopt;
      if (!v) fail("edit {} needs an integer '{}': {}", op, f, je.dump());
      return *v;
    };
    if (op == "remove") {
      if (!je.contains("unit") || !je["unit"].is_string())
        fail("edit remove needs a 'unit' string: {}", je.dump());
      s.edits.push_back(Edit::remove(je["unit"].get<std::string>()));
    } else if (op == "drop_layer") {
      s.edits.push_back(Edit::drop_layer(need_int("stage"), need_int("index")));
    } else if (op == "drop_mid") {
      s.edits.push_back(Edit::drop_mid());
    } else if (op == "drop_stage") {
      s.edits.push_back(Edit::drop_stage(need_int("stage")));
    } else if (op == "gri") {
      if (!je.contains("unit") || !je["unit"].is_string())
        fail("edit gri needs a 'unit' string: {}", je.dump());
      s.edits.push_back(
          Edit::gri(je["unit"].get<std::string>(), need_int("window"), need_int("pool")));
    } else if (op == "clme") {
      if (!je.contains("unit") || !je["unit"].is_string())
        fail("edit clme needs a 'unit' string: {}", je.dump());
      if (!je.contains("experts") || !je["experts"].is_array())
        fail("edit clme needs an 'experts' list of removed sibling resblocks: {}", je.dump());
      std::vector<std::string> experts;
      for (const auto& x : je["experts"]) {
        if (!x.is_string()) fail("edit clme: experts must be unit id strings: {}", je.dump());
        experts.push_back(x.get<std::string>());
      }
      s.edits.push_back(Edit::clme(je["unit"].get<std::string>(), std::move(experts)));
    } else {
      fail("unknown edit op '{}' (known: remove, drop_layer, drop_mid, drop_stage, gri, clme)", op);
    }
  }
  s.removed_units();  // validates the unit ids
  s.gri_units();
  s.clme_units();
  return s;
}

}  // namespace asdm
