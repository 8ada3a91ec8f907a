#include "profiler/profile.h"

#include <map>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "model/unet.h"
#include "profiler/cost_model.h"

namespace asdm {

int profile_latent_side(const UNetConfig& c, const ProfileOptions& o) {
  if (o.runs < 1 || o.warmup < 0 || o.batch < 1 || o.text_tokens < 1 || o.vae_scale < 1)
    fail("profile needs runs >= 1, warmup >= 0, batch >= 1, text tokens >= 1 (got {}, {}, {}, {})", o.runs,
         o.warmup, o.batch, o.text_tokens);
  const int res = o.resolution > 0 ? o.resolution : c.sample_size * o.vae_scale;
  const int factor = o.vae_scale * (1 << (c.num_stages() - 1));
  if (res % factor != 0)
    fail("resolution {} is not divisible by the UNet's downsampling factor {} (VAE {} x 2^{} stages)", res, factor,
         o.vae_scale, c.num_stages() - 1);
  return res / o.vae_scale;
}

ProfileReport profile_unet(const UNet& unet, const ProfileOptions& o) {
  const UNetLayout& L = unet.layout();
  const UNetConfig& c = L.config;
  const int latent = profile_latent_side(c, o);
  const int res = latent * o.vae_scale;

  const auto& w = unet.module().parameters().front();
  const auto opts = torch::TensorOptions().device(w.device()).dtype(w.scalar_type());
  const bool cuda = w.is_cuda();
  torch::manual_seed(o.seed);
  const auto sample = torch::randn({o.batch, c.in_channels, latent, latent}, opts);
  const auto timestep = torch::full({o.batch}, 500, torch::TensorOptions().device(w.device()).dtype(torch::kInt64));
  const auto ehs = torch::randn({o.batch, o.text_tokens, c.cross_attention_dim[0]}, opts);
  AddedConditions added;
  at::Tensor text_embeds, time_ids, tcond;
  if (c.addition_embed_type == "text_time") {
    text_embeds = torch::randn({o.batch, c.projection_class_embeddings_input_dim - 6 * c.addition_time_embed_dim}, opts);
    time_ids = torch::tensor({double(res), double(res), 0.0, 0.0, double(res), double(res)}, opts).repeat({o.batch, 1});
    added.text_embeds = &text_embeds;
    added.time_ids = &time_ids;
  }
  if (c.time_cond_proj_dim > 0) {
    tcond = torch::randn({o.batch, c.time_cond_proj_dim}, opts);
    added.timestep_cond = &tcond;
  }

  // On CUDA the timer synchronises the device at every boundary: intrusive, but the times are real.
  auto sync = [cuda] {
    if (cuda) torch::cuda::synchronize();
  };
  UnitTimer timer([&] {
    sync();
    return UnitTimer::steady_ms();
  });
  torch::InferenceMode guard;
  auto timed = [&](UnitObserver* obs) {
    sync();
    const double t0 = UnitTimer::steady_ms();
    unet.forward(sample, timestep, ehs, added, obs);
    sync();
    return UnitTimer::steady_ms() - t0;
  };
  const int total = o.warmup + 2 * o.runs;
  int done = 0;
  for (int i = 0; i < o.warmup; ++i) {
    timed(nullptr);
    if (o.progress) o.progress(++done, total);
  }
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> per_unit;
  std::vector<double> observed, unobserved, coverage;
  ProfileReport r;
  for (int i = 0; i < o.runs; ++i) {
    timer.begin_forward();
    const double ms = timed(&timer);
    observed.push_back(ms);
    double excl = 0;
    for (const auto& s : timer.samples()) {
      per_unit[s.id].first.push_back(s.inclusive_ms);
      per_unit[s.id].second.push_back(s.exclusive_ms);
      excl += s.exclusive_ms;
    }
    coverage.push_back(excl / ms);
    if (i == o.runs - 1) r.trace = timer.samples();
    if (o.progress) o.progress(++done, total);
    unobserved.push_back(timed(nullptr));
    if (o.progress) o.progress(++done, total);
  }

  CostInput ci;
  ci.height = ci.width = latent;
  ci.batch = o.batch;
  ci.text_tokens = o.text_tokens;
  const CostReport cost = estimate_cost(L, unet.removed_units(), ci);
  r.device = unet.device();
  r.dtype = unet.dtype();
  r.resolution = res;
  r.latent_height = r.latent_width = latent;
  r.batch = o.batch;
  r.text_tokens = o.text_tokens;
  for (size_t i = 0; i < L.units.size(); ++i) {
    const UnitInfo& u = L.units[i];
    UnitProfile p;
    p.id = u.id;
    p.kind = u.kind;
    p.parent = u.parent;
    p.inclusive_ms = summarize(per_unit[u.id].first);
    p.exclusive_ms = summarize(per_unit[u.id].second);
    p.params = cost.units[i].params;
    p.macs = cost.units[i].macs;
    p.attn_macs = cost.units[i].attn_macs;
    r.units.push_back(p);
  }
  r.forward_ms = summarize(observed);
  r.unobserved_ms = summarize(unobserved);
  r.coverage = quantile(coverage, 0.5);
  r.overhead = r.forward_ms.median / r.unobserved_ms.median - 1.0;
  return r;
}

nlohmann::json to_json(const ProfileReport& r) {
  nlohmann::json units = nlohmann::json::array();
  for (const auto& u : r.units) {
    nlohmann::json j = {{"id", u.id},
                        {"kind", to_string(u.kind)},
                        {"inclusive_ms", to_json(u.inclusive_ms)},
                        {"exclusive_ms", to_json(u.exclusive_ms)},
                        {"params", u.params},
                        {"macs", u.macs},
                        {"attn_macs", u.attn_macs}};
    if (!u.parent.empty()) j["parent"] = u.parent;
    units.push_back(j);
  }
  return {{"backend", r.backend},
          {"model_device", r.device},
          {"dtype", r.dtype},
          {"input", {{"resolution", r.resolution}, {"latent_height", r.latent_height}, {"latent_width", r.latent_width},
                     {"batch", r.batch}, {"text_tokens", r.text_tokens}}},
          {"forward_ms", to_json(r.forward_ms)},
          {"unobserved_forward_ms", to_json(r.unobserved_ms)},
          {"coverage", r.coverage},
          {"overhead", r.overhead},
          {"units", units}};
}

nlohmann::json chrome_trace(const ProfileReport& r) {
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 1}, {"args", {{"name", "asdm UNet forward"}}}});
  events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", 1}, {"args", {{"name", "units (host)"}}}});
  for (const auto& s : r.trace) {
    events.push_back({{"name", s.id},
                      {"cat", "unit"},
                      {"ph", "X"},
                      {"ts", s.start_ms * 1e3},
                      {"dur", s.inclusive_ms * 1e3},
                      {"pid", 1},
                      {"tid", 1},
                      {"args", {{"exclusive_ms", s.exclusive_ms}, {"depth", s.depth}}}});
  }
  return {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
}

}  // namespace asdm
