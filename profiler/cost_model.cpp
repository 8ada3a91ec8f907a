#include "profiler/cost_model.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/arch_spec.h"
#include "model/gri_attention.h"

namespace asdm {
namespace {

struct Costs {
  int64_t params = 0, macs = 0, attn = 0;
};

// One BasicTransformerBlock at N image tokens.
Costs transformer_block_cost(const UnitInfo& u, int64_t B, int64_t N, int64_t T) {
  const int64_t C = u.out_channels, D = u.cross_dim;
  Costs c;
  const int64_t kv1 = u.only_cross_attention ? D : C;        // attn1's key/value input width
  const int64_t M1 = u.only_cross_attention ? T : N;         // attn1's key count
  c.params = 3 * 2 * C;                                      // norm1..3
  c.params += C * C + 2 * kv1 * C + C * C + C;               // attn1
  c.params += C * C + 2 * D * C + C * C + C;                 // attn2
  c.params += C * 8 * C + 8 * C + 4 * C * C + C;             // GEGLU ff
  c.macs = B * 3 * 4 * N * C;                                // LayerNorms (thop: 4 x elements)
  c.macs += B * (N * C * C + 2 * M1 * kv1 * C + N * C * C);  // attn1 q, k, v, out
  c.macs += B * (N * C * C + 2 * T * D * C + N * C * C);     // attn2
  c.macs += B * (N * C * 8 * C + N * 4 * C * C);             // ff
  c.attn = B * 2 * N * M1 * C + B * 2 * N * T * C;
  return c;
}

Costs resnet_cost(const UnitInfo& u, const UNetConfig& cfg, int64_t B, int64_t HW, bool removed) {
  const int64_t I = u.in_channels, O = u.out_channels, temb = cfg.time_embed_dim();
  const int64_t proj = cfg.resnet_time_scale_shift == "scale_shift" ? 2 * O : O;
  Costs c;
  if (u.conv_shortcut) {
    c.params += I * O + O;
    c.macs += B * HW * O * I;
  }
  if (removed) return c;
  c.params += 2 * I + I * O * 9 + O + temb * proj + proj + 2 * O + O * O * 9 + O;
  c.macs += B * HW * O * I * 9 + B * temb * proj + B * HW * O * O * 9;
  return c;
}

}  // namespace

CostReport estimate_cost(const UNetLayout& L, const std::set<std::string>& removed,
                         const InputShape& in) {
  const UNetConfig& cfg = L.config;
  if (in.latent_height < 1 || in.latent_width < 1 || in.batch < 1 || in.text_tokens < 1)
    fail("cost model inputs must be positive (got {}x{} latent, batch {}, {} text tokens)",
         in.latent_height, in.latent_width, in.batch, in.text_tokens);
  const int n = cfg.num_stages();
  // Spatial size per level, as the down path's stride-2 convolutions produce it.
  std::vector<std::pair<int, int>> size{{in.latent_height, in.latent_width}};
  for (int i = 1; i < n; ++i) {
    auto [h, w] = size.back();
    const int p = cfg.downsample_padding;
    auto down = [&](int s) { return p == 0 ? (s + 1 - 3) / 2 + 1 : (s + 2 * p - 3) / 2 + 1; };
    size.emplace_back(down(h), down(w));
  }
  const int64_t B = in.batch, T = in.text_tokens;
  const int64_t c0 = cfg.block_out_channels[0], temb = cfg.time_embed_dim();

  CostReport r;
  r.input = in;
  for (const auto& u : L.units) {
    UnitCost uc;
    uc.id = u.id;
    uc.kind = u.kind;
    uc.parent = u.parent;
    uc.in_channels = u.in_channels;
    uc.out_channels = u.out_channels;
    const bool gone = removed.count(u.id) > 0 || (!u.parent.empty() && removed.count(u.parent) > 0);
    uc.removed = gone;
    const auto [h, w] = u.kind == UnitKind::kFixed ? size[0] : size[u.level];
    uc.height = h;
    uc.width = w;
    const int64_t HW = int64_t(h) * w;
    Costs c;
    switch (u.kind) {
      case UnitKind::kResBlock:
        c = resnet_cost(u, cfg, B, HW, gone);
        break;
      case UnitKind::kTransformerBlock:
        if (!gone) c = transformer_block_cost(u, B, HW, T);
        break;
      case UnitKind::kAttention: {
        if (gone) break;
        const int64_t C = u.out_channels;
        c.params = 2 * C + 2 * (C * C + C);  // norm, proj_in, proj_out
        c.macs = 2 * B * HW * C * C;
        for (int k = 0; k < u.transformer_layers; ++k) {
          if (u.transformer_layers > 1 && removed.count(unit_id::transformer_block(u.id, k)))
            continue;
          const Costs b = transformer_block_cost(u, B, HW, T);
          c.params += b.params;
          c.macs += b.macs;
          c.attn += b.attn;
        }
        break;
      }
      case UnitKind::kDownsample: {
        const int64_t C = u.out_channels;
        const auto [h2, w2] = size[u.level + 1];
        c.params = C * C * 9 + C;
        c.macs = B * int64_t(h2) * w2 * C * C * 9;
        break;
      }
      case UnitKind::kUpsample: {
        const int64_t C = u.out_channels;
        const auto [h2, w2] = size[u.level - 1];
        c.params = C * C * 9 + C;
        c.macs = B * int64_t(h2) * w2 * C * C * 9;
        break;
      }
      case UnitKind::kFixed: {
        const int64_t H0W0 = int64_t(size[0].first) * size[0].second;
        if (u.id == unit_id::kTimeEmbedding) {
          c.params = c0 * temb + temb + temb * temb + temb;
          c.macs = B * (c0 * temb + temb * temb);
          if (cfg.time_cond_proj_dim) {
            c.params += cfg.time_cond_proj_dim * c0;
            c.macs += B * cfg.time_cond_proj_dim * c0;
          }
        } else if (u.id == unit_id::kAddEmbedding || u.id == unit_id::kClassEmbedding) {
          const int64_t P = cfg.projection_class_embeddings_input_dim;
          c.params = P * temb + temb + temb * temb + temb;
          c.macs = B * (P * temb + temb * temb);
        } else if (u.id == unit_id::kConvIn) {
          const int64_t k2 = int64_t(cfg.conv_in_kernel) * cfg.conv_in_kernel;
          c.params = cfg.in_channels * c0 * k2 + c0;
          c.macs = B * H0W0 * c0 * cfg.in_channels * k2;
        } else if (u.id == unit_id::kConvNormOut) {
          c.params = 2 * c0;
        } else if (u.id == unit_id::kConvOut) {
          const int64_t k2 = int64_t(cfg.conv_out_kernel) * cfg.conv_out_kernel;
          c.params = c0 * cfg.out_channels * k2 + cfg.out_channels;
          c.macs = B * H0W0 * cfg.out_channels * c0 * k2;
        } else {
          ASDM_CHECK(false, "no cost rule for fixed unit {}", u.id);
        }
        break;
      }
    }
    uc.params = c.params;
    uc.macs = c.macs;
    uc.attn_macs = c.attn;
    if (u.parent.empty()) {
      r.params += c.params;
      r.macs += c.macs;
      r.attn_macs += c.attn;
    }
    r.units.push_back(uc);
  }
  return r;
}

CostReport estimate_cost(const ArchSpec& spec, const InputShape& in) {
  const UNetLayout layout = spec.student_layout();
  CostReport r = estimate_cost(layout, spec.removed_units(), in);
  const int64_t B = in.batch, temb = layout.config.time_embed_dim();
  auto unit_cost = [&](const std::string& id) -> UnitCost& {
    for (auto& uc : r.units)
      if (uc.id == id) return uc;
    fail("cost model: no unit '{}'", id);
  };
  for (const auto& [id, o] : spec.clme_units()) {
    UnitCost& uc = unit_cost(id);
    int64_t params = 0, macs = 0;
    for (const auto& [experts, cin] : {std::pair{o.conv1.size(), int64_t(uc.in_channels)},
                                       std::pair{o.conv2.size(), int64_t(uc.out_channels)}}) {
      if (experts == 0) continue;
      const int64_t E = static_cast<int64_t>(experts), cout = uc.out_channels;
      params += E * (cout * cin * 9 + cout) + (cin + temb) * (E + 1) + (E + 1);
      macs += B * (E + 1) * (cin + temb) + B * (E + 1) * (cout * cin * 9 + cout);
    }
    uc.params += params;
    uc.macs += macs;
    r.params += params;
    r.macs += macs;
  }
  for (const auto& [id, o] : spec.gri_units()) {
    UnitCost& uc = unit_cost(id);
    const UnitInfo& u = layout.at(id);
    const int64_t N = int64_t(uc.height) * uc.width, C = u.out_channels;
    const int64_t fewer =
        B * 2 * N * (N - gri_keys_per_query(uc.height, uc.width, o)) * C;  // per transformer block
    for (auto& tb : r.units) {
      if (tb.parent != id || tb.removed) continue;
      tb.attn_macs -= fewer;
    }
    int blocks = 0;
    for (int k = 0; k < u.transformer_layers; ++k)
      if (u.transformer_layers == 1 ||
          !spec.removed_units().count(unit_id::transformer_block(id, k)))
        ++blocks;
    uc.attn_macs -= blocks * fewer;
    r.attn_macs -= blocks * fewer;
  }
  return r;
}

nlohmann::json to_json(const CostReport& r) {
  nlohmann::json units = nlohmann::json::array();
  for (const auto& u : r.units) {
    nlohmann::json j = {{"id", u.id},
                        {"kind", to_string(u.kind)},
                        {"resolution", {u.height, u.width}},
                        {"in_channels", u.in_channels},
                        {"out_channels", u.out_channels},
                        {"params", u.params},
                        {"macs", u.macs},
                        {"attn_macs", u.attn_macs},
                        {"removable", is_removable(u.kind)},
                        {"removed", u.removed}};
    if (!u.parent.empty()) j["parent"] = u.parent;
    units.push_back(j);
  }
  return {{"input", to_json(r.input)},
          {"totals",
           {{"params", r.params},
            {"macs", r.macs},
            {"attn_macs", r.attn_macs},
            {"macs_with_attn", r.macs + r.attn_macs}}},
          {"units", units}};
}

}  // namespace asdm
