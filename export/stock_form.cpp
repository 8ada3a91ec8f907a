#include "export/stock_form.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace asdm {

namespace {

// Why an edit has no stock diffusers form; "" when it has one.
std::string no_stock_form(const Edit& e, const UNetLayout& layout) {
  switch (e.op) {
    case Edit::Op::kDropLayer:
    case Edit::Op::kDropMid:
    case Edit::Op::kDropStage:
      return "";
    case Edit::Op::kGri:
      return fmt::format("edit gri {}: GRI attention is not a diffusers attention", e.unit);
    case Edit::Op::kClme:
      return fmt::format("edit clme {}: CLME-CondConv is not a diffusers convolution", e.unit);
    case Edit::Op::kRemove: {
      const UnitInfo& u = layout.at(e.unit);
      if (u.kind == UnitKind::kResBlock)
        return fmt::format(
            "edit remove {}: a removed ResBlock keeps its shortcut, which no stock block has",
            e.unit);
      if (u.kind == UnitKind::kAttention)
        return fmt::format(
            "edit remove {}: a removed attention unit (a Transformer2D of no blocks) has no stock "
            "form",
            e.unit);
      return "";
    }
  }
  return "";
}

}  // namespace

StockForm stock_form(const ArchSpec& spec) {
  StockForm f;
  f.config = spec.student_config();
  const UNetLayout layout = spec.student_layout();
  const UNetConfig& c = f.config;
  std::map<std::string, std::set<int>> removed;  // Transformer2D -> its removed block indices
  for (const auto& e : spec.edits) {
    f.why_not = no_stock_form(e, layout);
    if (!f.why_not.empty()) break;
    if (e.op == Edit::Op::kRemove) {
      const UnitInfo& u = layout.at(e.unit);
      removed[u.parent].insert(u.layer);
    }
  }
  for (const auto& [parent, blocks] : removed) {
    if (!f.why_not.empty()) break;
    const UnitInfo& p = layout.at(parent);
    if (static_cast<int>(blocks.size()) == p.transformer_layers)
      f.why_not = fmt::format(
          "every transformer block of {} is removed: a Transformer2D of no blocks has no stock "
          "form",
          parent);
    auto& index = f.block_index[parent];
    for (int k = 0, next = 0; k < p.transformer_layers; ++k)
      if (!blocks.count(k)) index[k] = next++;
  }
  if (f.why_not.empty() && !removed.empty()) {
    auto depth = [&](const std::string& unit, int full) {
      const auto it = removed.find(unit);
      return full - (it == removed.end() ? 0 : static_cast<int>(it->second.size()));
    };
    const int n = c.num_stages();
    for (int i = 0; i < n; ++i) {
      std::vector<int> d;
      for (int j = 0; j < c.layers_per_block[i]; ++j)
        d.push_back(
            depth(unit_id::attention(Stage::kDown, i, j), c.transformer_layers_per_block[i]));
      f.down_depths.push_back(d);
    }
    for (int i = 0; i < n; ++i) {
      std::vector<int> d;
      for (int j = 0; j <= c.layers_per_block[n - 1 - i]; ++j)
        d.push_back(depth(unit_id::attention(Stage::kUp, i, j), c.up_transformer_layers(i)));
      f.up_depths.push_back(d);
    }
    // diffusers gives the mid block transformer_layers_per_block[-1][0]: the depth of the last
    // stage's first layer, or any number when that stage has no attention.
    const std::string mid = unit_id::attention(Stage::kMid, 0, 0);
    if (const UnitInfo* m = layout.find(mid)) {
      const int mid_depth = depth(mid, m->transformer_layers);
      const bool attention = c.down_block_types[n - 1].find("CrossAttn") != std::string::npos;
      if (!attention)
        for (int& d : f.down_depths[n - 1]) d = mid_depth;
      else if (f.down_depths[n - 1][0] != mid_depth)
        f.why_not = fmt::format(
            "{} would have transformer depth {} and {} depth {}: stock configs give both the "
            "same depth",
            mid, mid_depth, unit_id::attention(Stage::kDown, n - 1, 0), f.down_depths[n - 1][0]);
    }
  }
  if (!f.why_not.empty()) {
    f.single_file_why_not = "it has no stock diffusers form";
    return f;
  }
  const auto& L = c.layers_per_block;
  if (std::adjacent_find(L.begin(), L.end(), std::not_equal_to<>()) != L.end())
    f.single_file_why_not = fmt::format(
        "its stages have different layer counts ({}); the single-file loaders assume one count "
        "for every stage",
        fmt::join(L, ", "));
  return f;
}

std::string StockForm::stock_key(const std::string& key) const {
  const size_t p = key.find(".transformer_blocks.");
  if (p == std::string::npos) return key;
  const auto it = block_index.find(key.substr(0, p));
  if (it == block_index.end()) return key;
  const size_t b = p + std::string(".transformer_blocks.").size();
  const size_t e = key.find('.', b);
  const int k = std::stoi(key.substr(b, e - b));
  const auto kt = it->second.find(k);
  if (kt == it->second.end()) fail("{} belongs to a removed transformer block", key);
  return key.substr(0, b) + std::to_string(kt->second) + key.substr(e);
}

nlohmann::json StockForm::diffusers_config() const {
  nlohmann::json j = to_diffusers_json(config);
  // One layer count for every stage as a number: diffusers' single-file conversion reads it so.
  const auto& L = config.layers_per_block;
  if (!L.empty() && std::all_of(L.begin(), L.end(), [&](int l) { return l == L[0]; }))
    j["layers_per_block"] = L[0];
  if (!down_depths.empty()) {
    j["transformer_layers_per_block"] = down_depths;
    j["reverse_transformer_layers_per_block"] = up_depths;
  }
  return j;
}

std::string export_routes(const StockForm& form) {
  if (!form.stock()) return "asdm_diffusers (python/); no stock form: " + form.why_not;
  return form.single_file() ? "stock diffusers, single file, asdm_diffusers (python/)"
                            : "stock diffusers, asdm_diffusers (python/); no single file: " +
                                  form.single_file_why_not;
}

}  // namespace asdm
