#include "sd/generate.h"

#include <chrono>
#include <optional>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/prompts.h"
#include "model/branch_cache.h"
#include "model/cache_plan.h"
#include "model/checkpoint.h"
#include "model/cuda_graph.h"
#include "model/sampler.h"
#include "model/tensor_io.h"
#include "sd/sd_pipeline.h"

namespace asdm {

nlohmann::json GenerateRecord::to_json() const {
  nlohmann::json j = header.to_json();
  j["model"] = model;
  j["unet"] = unet.empty() ? nlohmann::json(nullptr) : nlohmann::json(unet);
  j["prompts"] = prompts;
  j["negative_prompts"] = negative_prompts;
  j["sampler"] = sampler;
  j["steps"] = steps;
  j["guidance"] = guidance;
  j["seed"] = seed;
  j["height"] = height;
  j["width"] = width;
  j["dtype"] = dtype;
  j["images"] = images;
  // Host-clock stage times of this one run (CUDA work is asynchronous: use asdm profile
  // --pipeline for measured stage times).
  j["stage_ms"] = stage_ms;
  if (graphs) j["cuda_graphs"] = true;
  if (channels_last) j["unet_channels_last"] = true;
  if (!cache_plan.empty()) {
    j["cache_plan"] = cache_plan;
    j["cache_peak_bytes"] = cache_peak_bytes;
  }
  j["total_s"] = total_s;
  return j;
}

void GenerateRecord::write(const std::filesystem::path& path) const {
  write_json_atomic(path, to_json());
}

GenerateRun generate_images(const GenerateStageOptions& o, const RunContext& context,
                            const std::function<void(const std::string&)>& started,
                            const std::function<void(int, int)>& step) {
  using Clock = std::chrono::steady_clock;
  const std::filesystem::path out = o.output;
  if (out.extension() != ".png") fail("-o must name a .png file (got '{}')", out.string());
  GenerateOptions g;
  g.prompts = o.prompts;
  if (!o.prompts_file.empty()) {
    const auto more = read_prompts(o.prompts_file);
    g.prompts.insert(g.prompts.end(), more.begin(), more.end());
  }
  if (g.prompts.empty()) fail("give a prompt with --prompt or --prompts");
  g.negative_prompts = o.negative_prompts;
  g.steps = o.steps;
  g.guidance = o.guidance;
  g.sampler = o.sampler;
  g.height = o.height;
  g.width = o.width;
  g.seed = o.seed;
  g.clip_skip = o.clip_skip;
  g.graphs = o.graphs;
  if (o.graphs) {
    if (!o.cache_plan.empty())
      fail(
          "--graphs replays one computation at every step, and a cache plan changes what each "
          "step computes: use one or the other");
    require_graphs(o.device, "generate --graphs");
  }

  const auto t0 = Clock::now();
  auto pipe = SdPipeline::load(o.model, o.device, o.dtype, o.config);
  if (!o.unet.empty()) {
    LoadOptions lo;
    lo.device = o.device;
    lo.dtype = o.dtype;
    pipe->replace_unet(load_unet(o.unet, lo));
  }
  pipe->unet().set_channels_last(o.channels_last);
  const SamplerOptions so = pipe->sampler_options(g);  // fail on sampler settings before any work
  const auto [h, w] = pipe->image_size(g);
  std::optional<BranchCache> cache;
  if (!o.cache_plan.empty()) {
    const CachePlan plan = CachePlan::read(o.cache_plan);
    plan.check(pipe->unet().spec(), model_calls(so));
    cache.emplace(plan);
  }
  BranchCacheGuard attach(cache ? &*cache : nullptr);
  if (started)
    started(
        fmt::format("generating {} image(s) of {}x{} with {} ({} {} steps, guidance {}, seed {})",
                    g.prompts.size(), w, h, o.unet.empty() ? o.model : o.unet, so.steps, so.sampler,
                    so.guidance, g.seed));
  double stage_ms[3] = {0, 0, 0};
  Clock::time_point stage_start;
  const StageHook hook = [&](PipelineStage s, bool begin) {
    if (begin)
      stage_start = Clock::now();
    else
      stage_ms[int(s)] +=
          std::chrono::duration<double, std::milli>(Clock::now() - stage_start).count();
  };
  torch::InferenceMode guard;
  const GenerateResult r = pipe->generate(g, {}, hook, step);
  GenerateRun run;
  run.images = write_pngs(r.images, out);
  if (o.tensors) {
    run.tensors = out.parent_path() / (out.stem().string() + ".safetensors");
    write_tensors(run.tensors, {{"images", r.images.contiguous()},
                                {"latents", r.latents.to(torch::kCPU).contiguous()}});
  }

  GenerateRecord rec;
  rec.header = ArtifactHeader::make(rec.kArtifact, rec.kSchemaVersion, context);
  rec.model = o.model;
  rec.unet = o.unet;
  rec.cache_plan = o.cache_plan;
  rec.graphs = o.graphs;
  rec.channels_last = o.channels_last;
  rec.cache_peak_bytes = cache ? cache->peak_bytes() : 0;
  rec.prompts = g.prompts;
  rec.negative_prompts = g.negative_prompts;
  rec.sampler = so.sampler;
  rec.steps = so.steps;
  rec.guidance = so.guidance;
  rec.seed = g.seed;
  rec.height = h;
  rec.width = w;
  rec.dtype = pipe->dtype();
  for (const auto& f : run.images) rec.images.push_back(f.filename().string());
  rec.stage_ms = {{"text_encoder", stage_ms[0]}, {"unet", stage_ms[1]}, {"vae", stage_ms[2]}};
  rec.total_s = std::chrono::duration<double>(Clock::now() - t0).count();
  run.record = out.parent_path() / (out.stem().string() + ".json");
  rec.write(run.record);
  return run;
}

}  // namespace asdm
