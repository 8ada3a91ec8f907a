#include "profiler/pipeline_profile.h"

#include <chrono>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/unet.h"
#include "profiler/cuda_runtime.h"

namespace asdm {

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}
}  // namespace

PipelineRunTimes time_pipeline_run(const SdPipeline& pipe, const GenerateOptions& options) {
  const CudaRuntime* cuda = nullptr;
  if (pipe.device().rfind("cuda", 0) == 0) {
    std::string why;
    cuda = cuda_runtime(&why);
    if (!cuda) fail("cannot synchronise the CUDA device for stage timing: {}", why);
  }
  auto sync = [cuda] {
    if (cuda) cuda->check(cuda->device_synchronize(), "cudaDeviceSynchronize");
  };
  PipelineRunTimes r;
  double* stage_ms[3] = {&r.text_encoder_ms, &r.unet_ms, &r.vae_ms};
  Clock::time_point stage_start;
  const StageHook hook = [&](PipelineStage s, bool begin) {
    sync();
    if (begin) {
      stage_start = Clock::now();
      return;
    }
    const double ms = ms_since(stage_start);
    *stage_ms[int(s)] += ms;
    if (s == PipelineStage::kUnet) r.unet_call_ms.push_back(ms);
  };
  torch::InferenceMode guard;
  sync();
  const auto t0 = Clock::now();
  pipe.generate(options, {}, hook);
  sync();
  r.total_ms = ms_since(t0);
  return r;
}

PipelineProfile profile_pipeline(const SdPipeline& pipe, const PipelineProfileOptions& o) {
  if (o.runs < 1) fail("--runs must be at least 1 (got {})", o.runs);
  if (o.warmup < 0) fail("--warmup must be at least 0 (got {})", o.warmup);
  if (o.generate.prompts.empty()) fail("no prompts to profile the pipeline with");
  const SamplerOptions so = pipe.sampler_options(o.generate);
  const auto [h, w] = pipe.image_size(o.generate);

  PipelineProfile p;
  p.device = pipe.device();
  p.dtype = pipe.dtype();
  p.sampler = so.sampler;
  p.height = h;
  p.width = w;
  p.batch = int(o.generate.prompts.size());
  p.steps = so.steps;
  p.guidance = so.guidance;
  p.graphs = o.generate.graphs;
  p.unet_channels_last = pipe.unet().channels_last();
  p.unet_calls = model_calls(so);

  std::vector<double> total, text, unet, vae, calls, other;
  const int all = o.warmup + o.runs;
  for (int r = 0; r < all; ++r) {
    const PipelineRunTimes t = time_pipeline_run(pipe, o.generate);
    if (r >= o.warmup) {
      total.push_back(t.total_ms);
      text.push_back(t.text_encoder_ms);
      unet.push_back(t.unet_ms);
      vae.push_back(t.vae_ms);
      other.push_back(t.total_ms - t.text_encoder_ms - t.unet_ms - t.vae_ms);
      calls.insert(calls.end(), t.unet_call_ms.begin(), t.unet_call_ms.end());
    }
    if (o.progress) o.progress(r + 1, all);
  }
  p.total_ms = summarize(total);
  p.text_encoder_ms = summarize(text);
  p.unet_ms = summarize(unet);
  p.vae_ms = summarize(vae);
  p.unet_call_ms = summarize(calls);
  p.other_ms = summarize(other);
  return p;
}

nlohmann::json to_json(const PipelineProfile& p) {
  const double total = p.total_ms.median > 0 ? p.total_ms.median : 1;
  auto stage = [&](const Summary& s) {
    return nlohmann::json{{"ms", to_json(s)}, {"share", s.median / total}};
  };
  return {{"device", p.device},
          {"dtype", p.dtype},
          {"sampler", p.sampler},
          {"height", p.height},
          {"width", p.width},
          {"batch", p.batch},
          {"steps", p.steps},
          {"unet_calls", p.unet_calls},
          {"guidance", p.guidance},
          {"cuda_graphs", p.graphs},
          {"unet_channels_last", p.unet_channels_last},
          {"total_ms", to_json(p.total_ms)},
          {"stages",
           {{"text_encoder", stage(p.text_encoder_ms)},
            {"unet", stage(p.unet_ms)},
            {"vae", stage(p.vae_ms)},
            {"other", stage(p.other_ms)}}},
          {"unet_call_ms", to_json(p.unet_call_ms)}};
}

PipelineProfile pipeline_profile_from_json(const nlohmann::json& j) {
  PipelineProfile p;
  p.device = j.at("device").get<std::string>();
  p.dtype = j.at("dtype").get<std::string>();
  p.sampler = j.at("sampler").get<std::string>();
  p.height = j.at("height").get<int>();
  p.width = j.at("width").get<int>();
  p.batch = j.at("batch").get<int>();
  p.steps = j.at("steps").get<int>();
  p.unet_calls = j.at("unet_calls").get<int>();
  p.guidance = j.at("guidance").get<double>();
  p.graphs = j.value("cuda_graphs", false);
  p.unet_channels_last = j.value("unet_channels_last", false);
  p.total_ms = summary_from_json(j.at("total_ms"));
  const auto& st = j.at("stages");
  p.text_encoder_ms = summary_from_json(st.at("text_encoder").at("ms"));
  p.unet_ms = summary_from_json(st.at("unet").at("ms"));
  p.vae_ms = summary_from_json(st.at("vae").at("ms"));
  p.other_ms = summary_from_json(st.at("other").at("ms"));
  p.unet_call_ms = summary_from_json(j.at("unet_call_ms"));
  return p;
}

nlohmann::json PipelineProfileArtifact::to_json() const {
  nlohmann::json j = header.to_json();
  j["model"] = model;
  j["prompts"] = prompts;
  j.update(asdm::to_json(profile));
  return j;
}

PipelineProfileArtifact PipelineProfileArtifact::from_json(const nlohmann::json& j,
                                                           const std::string& source) {
  PipelineProfileArtifact a;
  a.header = ArtifactHeader::from_json(j, kArtifact, kSchemaVersion, source, kMadeBy);
  parse_artifact_fields(kArtifact, source, [&] {
    a.model = j.at("model").get<std::string>();
    a.prompts = j.at("prompts").get<std::vector<std::string>>();
    a.profile = pipeline_profile_from_json(j);
  });
  return a;
}

PipelineProfileArtifact PipelineProfileArtifact::read(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

void PipelineProfileArtifact::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

std::string pipeline_profile_table(const PipelineProfileArtifact& a, int warmup) {
  const PipelineProfile& r = a.profile;
  std::string out = fmt::format("{:<14} {:>12} {:>10} {:>10} {:>7}\n", "stage", "median ms", "p10",
                                "p90", "share");
  auto row = [&](const char* name, const Summary& s) {
    out += fmt::format("{:<14} {:12.2f} {:10.2f} {:10.2f} {:6.1f}%\n", name, s.median, s.p10, s.p90,
                       100 * s.median / r.total_ms.median);
  };
  row("text_encoder", r.text_encoder_ms);
  row("unet", r.unet_ms);
  row("vae", r.vae_ms);
  row("other", r.other_ms);
  row("total", r.total_ms);
  out += fmt::format(
      "\n{}, {}x{}, batch {}, {} {} steps ({} UNet calls of {:.2f} ms median, batch {}), guidance "
      "{:g}, {} {}; {} runs after {} warm-up\n",
      a.model, r.width, r.height, r.batch, r.steps, r.sampler, r.unet_calls, r.unet_call_ms.median,
      r.guidance > 1 ? 2 * r.batch : r.batch, r.guidance, r.device, r.dtype, r.total_ms.n, warmup);
  return out;
}

}  // namespace asdm
