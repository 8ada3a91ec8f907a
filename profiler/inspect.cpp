#include "profiler/inspect.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/model_files.h"

namespace asdm {
namespace {

std::string human(int64_t v) {
  if (v >= 1'000'000'000) return fmt::format("{:.2f} G", v / 1e9);
  if (v >= 1'000'000) return fmt::format("{:.2f} M", v / 1e6);
  if (v >= 1'000) return fmt::format("{:.1f} k", v / 1e3);
  return std::to_string(v);
}

}  // namespace

InspectArtifact inspect_model(const InspectOptions& o, const RunContext& context) {
  const ModelFiles files = locate_model(o.model);
  const ArchSpec spec = load_arch(files);
  const UNetLayout layout = spec.student_layout();
  const int res = o.resolution > 0 ? o.resolution : layout.config.sample_size * o.vae_scale;
  if (o.vae_scale < 1) fail("--vae-scale must be positive, got {}", o.vae_scale);
  if (res % o.vae_scale != 0)
    fail("--resolution {} is not a multiple of the VAE factor {}", res, o.vae_scale);
  const InputShape in = InputShape::square(res / o.vae_scale, o.vae_scale, o.batch, o.text_tokens);
  InspectArtifact a;
  a.header =
      ArtifactHeader::make(InspectArtifact::kArtifact, InspectArtifact::kSchemaVersion, context);
  a.model = o.model;
  a.vae_scale = o.vae_scale;
  a.macs_rule =
      "thop: conv and linear multiply-accumulates (no bias), LayerNorm 4 x elements; attention "
      "matmuls (QK^T, AV) in attn_macs, not in macs";
  a.removed_units = spec.removed_units();
  a.cost = estimate_cost(layout, a.removed_units, in);
  return a;
}

std::string inspect_table(const InspectArtifact& a) {
  const CostReport& r = a.cost;
  std::string out = fmt::format("{:<52} {:<17} {:<9} {:<12} {:>10} {:>10} {:>10}\n", "unit", "kind",
                                "res", "channels", "params", "MACs", "attn MACs");
  for (const auto& u : r.units) {
    const std::string id = (u.parent.empty() ? "" : "  ") + u.id + (u.removed ? " (removed)" : "");
    out += fmt::format("{:<52} {:<17} {:<9} {:<12} {:>10} {:>10} {:>10}\n", id, to_string(u.kind),
                       fmt::format("{}x{}", u.height, u.width),
                       fmt::format("{}->{}", u.in_channels, u.out_channels), human(u.params),
                       human(u.macs), human(u.attn_macs));
  }
  out += fmt::format("\ntotal: {} params ({}), {} MACs ({}) + {} attention-matmul MACs ({})\n",
                     human(r.params), r.params, human(r.macs), r.macs, human(r.attn_macs),
                     r.attn_macs);
  out += fmt::format(
      "input: {}x{} image ({}x{} latent), batch {}, {} text tokens; MACs counted as thop does\n",
      r.input.resolution, r.input.resolution, r.input.latent_height, r.input.latent_width,
      r.input.batch, r.input.text_tokens);
  return out;
}

CostReport cost_report_from_json(const nlohmann::json& j) {
  CostReport r;
  r.input = input_shape_from_json(j.at("input"));
  const auto& t = j.at("totals");
  r.params = t.at("params").get<int64_t>();
  r.macs = t.at("macs").get<int64_t>();
  r.attn_macs = t.at("attn_macs").get<int64_t>();
  for (const auto& uj : j.at("units")) {
    UnitCost u;
    u.id = uj.at("id").get<std::string>();
    u.kind = unit_kind_from_string(uj.at("kind").get<std::string>());
    u.parent = uj.value("parent", std::string());
    const auto res = uj.at("resolution").get<std::vector<int>>();
    u.height = res.at(0);
    u.width = res.at(1);
    u.in_channels = uj.at("in_channels").get<int>();
    u.out_channels = uj.at("out_channels").get<int>();
    u.params = uj.at("params").get<int64_t>();
    u.macs = uj.at("macs").get<int64_t>();
    u.attn_macs = uj.at("attn_macs").get<int64_t>();
    u.removed = uj.value("removed", false);
    r.units.push_back(u);
  }
  return r;
}

nlohmann::json InspectArtifact::to_json() const {
  nlohmann::json j = header.to_json();
  j["model"] = model;
  j["resolution"] = cost.input.resolution;
  j["vae_scale"] = vae_scale;
  j["macs_rule"] = macs_rule;
  j["removed_units"] = removed_units;
  j.update(asdm::to_json(cost));
  return j;
}

InspectArtifact InspectArtifact::from_json(const nlohmann::json& j, const std::string& source) {
  InspectArtifact a;
  a.header = ArtifactHeader::from_json(j, kArtifact, kSchemaVersion, source, kMadeBy);
  parse_artifact_fields(kArtifact, source, [&] {
    a.model = j.at("model").get<std::string>();
    a.vae_scale = j.at("vae_scale").get<int>();
    a.macs_rule = j.value("macs_rule", std::string());
    a.removed_units = j.value("removed_units", std::set<std::string>());
    a.cost = cost_report_from_json(j);
    a.cost.input.resolution = j.at("resolution").get<int>();
  });
  return a;
}

InspectArtifact InspectArtifact::read(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void InspectArtifact::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

}  // namespace asdm
