#include "bench/bench_result.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace asdm {

nlohmann::json to_json(const BenchResult& r) {
  const BenchOptions& o = r.options;
  const bool has_sd = std::any_of(r.models.begin(), r.models.end(),
                                  [](const ModelBench& m) { return m.kind == "sd_pipeline"; });
  nlohmann::json settings = {
      {"device", o.device},
      {"dtype", o.dtype},
      {"input", to_json(r.input)},
      {"runs", o.runs},
      {"warmup", o.warmup},
      {"unet_cuda_graphs", o.graphs},
      {"unet_channels_last", o.channels_last},
      {"pipeline_batch", o.pipeline_batch},
      {"pipeline_runs", o.pipeline_runs},
      {"pipeline_device", o.sd_pipeline.empty() && !has_sd ? std::string("cpu") : o.device},
      {"sd_pipeline", o.sd_pipeline.string()},
      {"steps", o.sampler.steps},
      {"sampler", o.sampler.sampler},
      {"guidance", o.sampler.guidance},
      {"quality_prompts", o.quality_prompts},
      {"prompts_file", o.prompts_file},
      {"classifier", o.classifier},
      {"seed", o.seed},
      {"memory", r.memory_method},
      {"speedup", "1 - median / the first model's median, from the same interleaved rounds"}};
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : r.models) {
    nlohmann::json j = {
        {"name", m.name},
        {"path", m.path},
        {"kind", m.kind},
        {"params", m.params},
        {"macs", m.macs},
        {"attn_macs", m.attn_macs},
        {"unet_ms", to_json(m.unet_ms)},
        {"unet_speedup", m.unet_speedup},
        {"memory", {{"weights_bytes", m.weights_bytes}, {"unet_peak_bytes", m.unet_peak_bytes}}}};
    if (m.pipeline) {
      j["pipeline"] = {{"text_encoder_ms", to_json(m.pipeline->text_encoder_ms)},
                       {"unet_steps_ms", to_json(m.pipeline->unet_steps_ms)},
                       {"decoder_ms", to_json(m.pipeline->decoder_ms)},
                       {"total_ms", to_json(m.pipeline->total_ms)},
                       {"speedup", m.pipeline_speedup}};
      j["memory"]["pipeline_peak_bytes"] = m.pipeline_peak_bytes;
    }
    if (m.quality) j["quality"] = to_json(*m.quality);
    if (!m.samples_grid.empty()) j["samples_grid"] = m.samples_grid;
    if (!m.export_routes.empty()) j["export_routes"] = m.export_routes;
    if (!m.cache_plan.empty()) j["cache_plan"] = m.cache_plan;
    models.push_back(j);
  }
  return {{"settings", settings},
          {"reference", r.models.empty() ? "" : r.models[0].name},
          {"models", models}};
}

nlohmann::json BenchResult::to_json() const {
  nlohmann::json j = header.to_json();
  j.update(asdm::to_json(*this));
  return j;
}

BenchResult BenchResult::from_json(const nlohmann::json& j, const std::string& source) {
  BenchResult r;
  r.header = ArtifactHeader::from_json(j, kArtifact, kSchemaVersion, source, kMadeBy);
  parse_artifact_fields(kArtifact, source, [&] {
    const auto& st = j.at("settings");
    BenchOptions& o = r.options;
    o.device = st.at("device").get<std::string>();
    o.dtype = st.at("dtype").get<std::string>();
    r.input = input_shape_from_json(st.at("input"));
    o.batch = r.input.batch;
    o.runs = st.at("runs").get<int>();
    o.warmup = st.at("warmup").get<int>();
    o.graphs = st.value("unet_cuda_graphs", false);
    o.channels_last = st.value("unet_channels_last", false);
    o.pipeline_batch = st.at("pipeline_batch").get<int>();
    o.pipeline_runs = st.at("pipeline_runs").get<int>();
    o.sd_pipeline = st.value("sd_pipeline", std::string());
    o.sampler.steps = st.at("steps").get<int>();
    o.sampler.sampler = st.at("sampler").get<std::string>();
    o.sampler.guidance = st.at("guidance").get<double>();
    o.quality_prompts = st.at("quality_prompts").get<int>();
    o.prompts_file = st.value("prompts_file", std::string());
    o.classifier = st.value("classifier", std::string());
    o.seed = st.at("seed").get<uint64_t>();
    r.memory_method = st.value("memory", std::string());
    for (const auto& mj : j.at("models")) {
      ModelBench m;
      m.name = mj.at("name").get<std::string>();
      m.path = mj.at("path").get<std::string>();
      m.kind = mj.at("kind").get<std::string>();
      m.params = mj.at("params").get<int64_t>();
      m.macs = mj.at("macs").get<int64_t>();
      m.attn_macs = mj.value("attn_macs", int64_t{0});
      m.unet_ms = summary_from_json(mj.at("unet_ms"));
      m.unet_speedup = mj.at("unet_speedup").get<double>();
      const auto& mem = mj.at("memory");
      m.weights_bytes = mem.value("weights_bytes", int64_t{0});
      m.unet_peak_bytes = mem.value("unet_peak_bytes", int64_t{-1});
      if (mj.contains("pipeline")) {
        const auto& p = mj.at("pipeline");
        m.pipeline = PipelineTimes{
            summary_from_json(p.at("text_encoder_ms")), summary_from_json(p.at("unet_steps_ms")),
            summary_from_json(p.at("decoder_ms")), summary_from_json(p.at("total_ms"))};
        m.pipeline_speedup = p.at("speedup").get<double>();
        m.pipeline_peak_bytes = mem.value("pipeline_peak_bytes", int64_t{-1});
      }
      if (mj.contains("quality")) m.quality = quality_from_json(mj.at("quality"));
      m.samples_grid = mj.value("samples_grid", std::string());
      m.export_routes = mj.value("export_routes", std::string());
      m.cache_plan = mj.value("cache_plan", std::string());
      r.models.push_back(m);
    }
  });
  return r;
}

BenchResult BenchResult::read(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void BenchResult::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

std::string bench_table(const BenchResult& r) {
  std::string out = fmt::format(
      "{:<16} {:>11} {:>8} {:>12} {:>8} {:>10} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} "
      "{:>7}\n",
      "model", "UNet ms", "speedup", "pipeline ms", "speedup", "peak mem", "params", "GMACs",
      "mean acc", "FID", "FID ref", "PSNR", "SSIM");
  for (const auto& m : r.models) {
    const auto& q = m.quality;
    const bool reference = &m == &r.models[0];
    // Against the first model's images: the proxy FID (classifier features), or for Stable
    // Diffusion pipelines benched with --inception the FID.
    const double vs_ref = !q                                         ? NAN
                          : std::isfinite(q->proxy_fid_vs_reference) ? q->proxy_fid_vs_reference
                                                                     : q->fid_vs_reference;
    out += fmt::format(
        "{:<16} {:11.2f} {:>8} {:>12} {:>8} {:8.1f} M {:8.2f} M {:9.3f} {:>9} {:>8} {:>8} "
        "{:>8} {:>7}\n",
        m.name, m.unet_ms.median,
        m.cache_plan.empty() ? fmt::format("{:.1f}%", 100 * m.unet_speedup) : "(plain)",
        m.pipeline ? fmt::format("{:.1f}", m.pipeline->total_ms.median) : "-",
        m.pipeline ? fmt::format("{:.1f}%", 100 * m.pipeline_speedup) : "-",
        m.unet_peak_bytes / 1048576.0, m.params / 1e6, m.macs / 1e9,
        q && q->classified ? fmt::format("{:.3f}", q->mean_accuracy) : "-",
        q && q->classified ? fmt::format("{:.1f}", q->fid) : "-",
        std::isfinite(vs_ref) ? fmt::format("{:.2f}", vs_ref) : "-",
        q && !reference ? fmt::format("{:.2f}", q->psnr_db) : "-",
        q && !reference ? fmt::format("{:.3f}", q->ssim) : "-");
  }
  for (const auto& m : r.models)
    if (!m.cache_plan.empty()) {
      out +=
          "(plain): a model with a cache plan times its UNet's plain forward; the plan acts across "
          "a sampling run (pipeline ms)\n";
      break;
    }
  if (r.options.channels_last)
    out += "every UNet in channels-last (NHWC) memory (--channels-last)\n";
  if (r.options.graphs)
    out += "UNet ms: replays of each model's CUDA graph (--graphs)" +
           std::string(r.models.size() && r.models[0].kind == "sd_pipeline"
                           ? "; pipeline ms: each denoising step replayed from a graph\n"
                           : "\n");
  return out;
}

std::string headline_table(const BenchResult& r) {
  std::string out = fmt::format("{:<20} {:>12} {:>10} {:>14} {:>10} {:>9} {:>12} {:>9} {:>15}\n",
                                "", "UNet ms", "UNet", "pipeline ms", "pipeline", "mean acc",
                                "all correct", "FID", "FID vs teacher");
  for (const auto& m : r.models) {
    const QualityResult q = m.quality.value_or(QualityResult{});
    const std::string vs = std::isfinite(q.proxy_fid_vs_reference)
                               ? fmt::format("{:.2f}", q.proxy_fid_vs_reference)
                               : "-";
    out += fmt::format(
        "{:<20} {:12.1f} {:9.1f}% {:14.1f} {:9.1f}% {:9.3f} {:12.3f} {:9.1f} {:>15}\n", m.name,
        m.unet_ms.median, 100 * m.unet_speedup, m.pipeline ? m.pipeline->total_ms.median : 0.0,
        100 * m.pipeline_speedup, q.mean_accuracy, q.all_correct, q.fid, vs);
  }
  out +=
      "\n(FID: the proxy FID against clean renders of the prompts; FID vs teacher: against the "
      "teacher's samples from the same noise)";
  out += fmt::format(
      "\n(speed-ups: 1 - median / the teacher's median ({:.1f} ms), interleaved runs on this "
      "machine)\n",
      r.models.at(0).unet_ms.median);
  return out;
}

}  // namespace asdm
