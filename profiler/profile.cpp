#include "profiler/profile.h"

#include <map>

#include <ATen/SDPBackend.h>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"
#include "model/cuda_graph.h"
#include "model/sampler.h"
#include "model/unet.h"
#include "profiler/cost_model.h"
#include "profiler/cuda_runtime.h"
#include "profiler/event_backend.h"
#include "profiler/peak_memory.h"
#include "profiler/unit_timer.h"

namespace asdm {

int profile_latent_side(const UNetConfig& c, const ProfileOptions& o) {
  if (o.runs < 1 || o.warmup < 0 || o.batch < 1 || o.text_tokens < 1 || o.vae_scale < 1)
    fail("profile needs runs >= 1, warmup >= 0, batch >= 1, text tokens >= 1 (got {}, {}, {}, {})",
         o.runs, o.warmup, o.batch, o.text_tokens);
  const int res = o.resolution > 0 ? o.resolution : c.sample_size * o.vae_scale;
  const int factor = o.vae_scale * (1 << (c.num_stages() - 1));
  if (res % factor != 0)
    fail(
        "resolution {} is not divisible by the UNet's downsampling factor {} (VAE {} x 2^{} "
        "stages)",
        res, factor, o.vae_scale, c.num_stages() - 1);
  return res / o.vae_scale;
}

namespace {

// A UNet's random inputs for profiling (sample, timestep, text states, and the extra conditions
// its config needs, made for the largest batch a call will have) and the call itself.
struct ForwardInputs {
  const UNet& unet;
  int latent = 0, res = 0;
  bool cuda = false;
  at::Tensor sample, timestep, ehs, text_embeds, time_ids, tcond, labels;

  ForwardInputs(const UNet& u, const ProfileOptions& o) : unet(u) {
    const UNetConfig& c = u.layout().config;
    latent = profile_latent_side(c, o);
    res = latent * o.vae_scale;
    const at::Tensor w =
        u.module().parameters().front();  // a copy: parameters() returns a temporary
    const auto opts = torch::TensorOptions().device(w.device()).dtype(w.scalar_type());
    cuda = w.is_cuda();
    torch::manual_seed(o.seed);
    sample = torch::randn({o.batch, c.in_channels, latent, latent}, opts);
    timestep =
        torch::full({o.batch}, 500, torch::TensorOptions().device(w.device()).dtype(torch::kInt64));
    ehs = torch::randn({o.batch, o.text_tokens, c.cross_attention_dim[0]}, opts);
    const int max_batch = o.sampler_steps > 0 && o.guidance != 1.0 ? 2 * o.batch : o.batch;
    if (c.addition_embed_type == "text_time") {
      text_embeds = torch::randn(
          {max_batch, c.projection_class_embeddings_input_dim - 6 * c.addition_time_embed_dim},
          opts);
      time_ids = torch::tensor({double(res), double(res), 0.0, 0.0, double(res), double(res)}, opts)
                     .repeat({max_batch, 1});
    }
    if (c.time_cond_proj_dim > 0) tcond = torch::randn({max_batch, c.time_cond_proj_dim}, opts);
    if (c.class_embed_type == "projection")
      labels = torch::randn({max_batch, c.projection_class_embeddings_input_dim}, opts);
  }

  at::Tensor operator()(const at::Tensor& x, const at::Tensor& t, const at::Tensor& states,
                        UnitObserver* obs) const {
    const int64_t b = x.size(0);
    AddedConditions added;
    at::Tensor te, ti, tc, cl;
    if (text_embeds.defined()) {
      te = text_embeds.slice(0, 0, b);
      ti = time_ids.slice(0, 0, b);
      added.text_embeds = &te;
      added.time_ids = &ti;
    }
    if (tcond.defined()) {
      tc = tcond.slice(0, 0, b);
      added.timestep_cond = &tc;
    }
    if (labels.defined()) {
      cl = labels.slice(0, 0, b);
      added.class_labels = &cl;
    }
    return unet.forward(x, t, states, added, obs);
  }
  at::Tensor forward(UnitObserver* obs = nullptr) const {
    return (*this)(sample, timestep, ehs, obs);
  }
};

// What the observed and unobserved forwards measured.
struct PerUnit {
  std::vector<double> incl, excl, ksum, span;
};
struct Measurements {
  std::map<std::string, PerUnit> per_unit;
  std::vector<double> observed, unobserved, coverage, device;
};

// One observed forward's record into the measurements (the last one kept for the trace).
void add_observed(ForwardRecord rec, double ms, bool cupti, bool last, ProfileReport& r,
                  Measurements& meas) {
  meas.observed.push_back(ms);
  double excl = 0;
  for (const auto& s : rec.units) {
    auto& pu = meas.per_unit[s.id];
    pu.incl.push_back(s.inclusive_ms);
    pu.excl.push_back(s.exclusive_ms);
    if (cupti) {
      pu.ksum.push_back(s.kernel_sum_ms);
      pu.span.push_back(s.device_span_ms);
    }
    excl += s.exclusive_ms;
  }
  if (cupti) {
    meas.coverage.push_back(rec.device_total_ms > 0 ? rec.device_attributed_ms / rec.device_total_ms
                                                    : 0.0);
    meas.device.push_back(rec.device_total_ms);
    r.activities = rec.activities;
    r.unattributed = rec.unattributed;
    r.dropped += rec.dropped;
  } else {
    meas.coverage.push_back(excl / ms);
  }
  if (last) r.trace = std::move(rec);
}

// ---- measure: warm-up, then observed forwards (through the backend) and unobserved ones ----
void measure_forwards(const ProfileOptions& o, bool cuda,
                      const std::function<double(UnitObserver*)>& timed, ProfileReport& r,
                      Measurements& meas) {
  const int total = o.warmup + 2 * o.runs;
  int done = 0;
  for (int i = 0; i < o.warmup; ++i) {
    timed(nullptr);
    if (o.progress) o.progress(++done, total);
  }
  // CUPTI stays attached to the process once initialised (it hooks every CUDA API call), so its
  // unobserved forwards run first, before CUPTI is touched; the other backends alternate.
  const bool unobserved_first = cuda && o.backend == "cupti";
  if (unobserved_first) {
    for (int i = 0; i < o.runs; ++i) {
      meas.unobserved.push_back(timed(nullptr));
      if (o.progress) o.progress(++done, total);
    }
  }
  BackendChoice choice = make_latency_backend(o.backend, cuda);
  LatencyBackend& backend = *choice.backend;
  r.overhead_method =
      unobserved_first
          ? "unobserved forwards first, then observed (CUPTI stays attached once started)"
          : "observed and unobserved forwards alternated";
  r.backend = backend.name();
  r.requested_backend = o.backend;
  r.fallback_note = choice.fallback_note;
  const bool cupti = backend.name() == "cupti";
  for (int i = 0; i < o.runs; ++i) {
    backend.begin_forward();
    const double ms = timed(&backend);
    add_observed(backend.end_forward(), ms, cupti, i == o.runs - 1, r, meas);
    if (o.progress) o.progress(++done, total);
    if (unobserved_first) continue;
    meas.unobserved.push_back(timed(nullptr));
    if (o.progress) o.progress(++done, total);
  }
  r.backend_detail = backend.detail();  // after the forwards: what the backend found it could do
}

// ---- measure with CUDA graphs: one graph with the unit events inside, one without ----
// `run` is the forward; each replay is timed by `events` around it on the default stream.
void measure_replays(const ProfileOptions& o, const std::string& device,
                     const std::function<void(UnitObserver*)>& run, CudaEventTimer& events,
                     ProfileReport& r, Measurements& meas) {
  std::string why;
  const CudaRuntime* rt = cuda_runtime(&why);
  if (!rt) fail("--graphs asked for, but {}", why);
  CudaEventBackend backend(*rt);
  CudaGraph observed(device), unobserved(device);
  const int warmup = std::max(1, o.warmup);
  observed.capture(
      [&] {
        backend.set_stream(observed.stream(), observed.capturing());
        backend.begin_forward();
        run(&backend);
        backend.end_forward();
      },
      warmup);
  backend.set_stream(nullptr, false);
  unobserved.capture([&] { run(nullptr); }, warmup);
  auto replay = [&](CudaGraph& g) {
    events.start();
    g.replay();
    events.stop();
    return events.elapsed_ms();
  };
  const int total = o.warmup + 2 * o.runs;
  int done = 0;
  for (int i = 0; i < o.warmup; ++i) {
    replay(observed);
    replay(unobserved);
    if (o.progress) o.progress(++done, total);
  }
  r.backend = backend.name();
  r.requested_backend = o.backend;
  r.overhead_method =
      "replays of a graph with the unit events inside alternated with replays of one without";
  for (int i = 0; i < o.runs; ++i) {
    const double ms = replay(observed);
    add_observed(backend.collect(), ms, false, i == o.runs - 1, r, meas);
    if (o.progress) o.progress(++done, total);
    meas.unobserved.push_back(replay(unobserved));
    if (o.progress) o.progress(++done, total);
  }
  r.backend_detail =
      "CUDA graphs: each forward captured once and replayed; unit events recorded inside the graph "
      "(cudaEventRecordExternal)";
}

// ---- summarise: per-unit statistics with the cost model's params and MACs ----
void summarise(const UNet& unet, const ProfileOptions& o, int latent, int res, int max_batch,
               const Measurements& ms, ProfileReport& r) {
  const UNetLayout& L = unet.layout();
  const bool loop = o.sampler_steps > 0;
  const bool cupti = r.backend == "cupti";
  const InputShape in = InputShape::square(latent, o.vae_scale, o.batch, o.text_tokens);
  const CostReport cost = estimate_cost(L, unet.removed_units(), in);
  r.device = unet.device();
  if (loop) {
    r.sampler_steps = o.sampler_steps;
    r.guidance = o.guidance;
    r.sampler = o.sampler;
    r.unet_batch = max_batch;
  } else {
    r.unet_batch = o.batch;
  }
  r.dtype = unet.dtype();
  r.input = in;
  r.attention_kernels = attention_kernels(unet, in);
  for (size_t i = 0; i < L.units.size(); ++i) {
    const UnitInfo& u = L.units[i];
    UnitProfile p;
    p.id = u.id;
    p.kind = u.kind;
    p.parent = u.parent;
    static const PerUnit kNone;
    const auto found = ms.per_unit.find(u.id);
    const PerUnit& pu = found == ms.per_unit.end() ? kNone : found->second;
    p.inclusive_ms = summarize(pu.incl);
    p.exclusive_ms = summarize(pu.excl);
    if (cupti) {
      p.kernel_sum_ms = summarize(pu.ksum);
      p.device_span_ms = summarize(pu.span);
      for (const auto& s : r.trace.units) {
        if (s.id != u.id) continue;
        p.kernel_count = s.kernel_count;
        p.top_kernels = s.top_kernels;
      }
    }
    p.params = cost.units[i].params;
    p.macs = cost.units[i].macs;
    p.attn_macs = cost.units[i].attn_macs;
    r.units.push_back(p);
  }
  r.forward_ms = summarize(ms.observed);
  r.unobserved_ms = summarize(ms.unobserved);
  r.coverage = quantile(ms.coverage, 0.5);
  if (cupti) r.device_ms = summarize(ms.device);
  r.overhead = r.forward_ms.median / r.unobserved_ms.median - 1.0;
}

}  // namespace

const std::vector<std::string>& profile_backend_names() {
  static const std::vector<std::string> names = [] {
    auto v = latency_backend_names();
    v.push_back("cuda-events,cupti");
    return v;
  }();
  return names;
}

std::string attention_kernels(const UNet& unet, const InputShape& in) {
  const UNetLayout& L = unet.layout();
  const at::Tensor w = unet.module().parameters().front();
  const auto gri = unet.spec().gri_units();
  const bool upcast = L.config.upcast_attention && w.scalar_type() != torch::kFloat32;
  const auto opts =
      torch::TensorOptions().device(w.device()).dtype(upcast ? torch::kFloat32 : w.scalar_type());
  auto kernel = [&](int64_t n, int64_t m, int heads, int d) {
    const auto q = torch::empty({in.batch, heads, n, d}, opts);
    const auto kv = torch::empty({in.batch, heads, m, d}, opts);
    switch (static_cast<at::SDPBackend>(at::_fused_sdp_choice(q, kv, kv))) {
      case at::SDPBackend::flash_attention:
        return "flash_attention";
      case at::SDPBackend::efficient_attention:
        return "efficient_attention";
      case at::SDPBackend::cudnn_attention:
        return "cudnn_attention";
      case at::SDPBackend::math:
        return "math";
      default:
        return "other";
    }
  };
  std::vector<std::string> seen;
  std::string out;
  for (const auto& u : L.units) {
    if (u.kind != UnitKind::kAttention || unet.removed_units().count(u.id) || gri.count(u.id))
      continue;
    const int64_t n = int64_t(in.latent_height >> u.level) * (in.latent_width >> u.level);
    const int d = u.head_dim > 0 ? u.head_dim : u.out_channels / std::max(1, u.heads);
    std::vector<std::pair<std::string, int64_t>> calls = {{"cross", in.text_tokens}};
    if (!u.only_cross_attention) calls.insert(calls.begin(), {"self", n});
    for (const auto& [what, m] : calls) {
      const std::string shape = fmt::format("{} {}x{} {}x{}", what, n, m, u.heads, d);
      if (std::find(seen.begin(), seen.end(), shape) != seen.end()) continue;
      seen.push_back(shape);
      out += fmt::format("{}{}: {}", out.empty() ? "" : "; ", shape, kernel(n, m, u.heads, d));
    }
  }
  return out;
}

ProfileReport profile_unet(const UNet& unet, const ProfileOptions& o) {
  const UNetLayout& L = unet.layout();
  const UNetConfig& c = L.config;
  const bool both = o.backend == "cuda-events,cupti";
  if (o.graphs) {
    require_graphs(unet.device(), "profiling with --graphs");
    if (o.backend != "cuda-events")
      fail(
          "--graphs times units with CUDA events recorded inside the graph: use --backend "
          "cuda-events (the {} backend {})",
          o.backend,
          o.backend == "timer" ? "reads the host clock, which a replay never reaches"
                               : "joins kernels to units at launch, and a replay launches none");
    if (o.sampler_steps > 0)
      fail("--graphs profiles single forwards; --sampler-steps cannot be combined with it");
  }
  const ForwardInputs call_unet(unet, o);
  const int latent = call_unet.latent;
  const int res = call_unet.res;
  const bool cuda = call_unet.cuda;
  const at::Tensor& sample = call_unet.sample;
  const at::Tensor& timestep = call_unet.timestep;
  const at::Tensor& ehs = call_unet.ehs;
  const auto opts = sample.options();
  const bool loop = o.sampler_steps > 0;
  const int max_batch = loop && o.guidance != 1.0 ? 2 * o.batch : o.batch;
  // Sampler-loop mode: k denoising steps as a pipeline runs them (guidance doubles the UNet batch).
  const NoiseSchedule schedule = NoiseSchedule::make();
  SamplerOptions so;
  so.sampler = o.sampler;
  so.steps = o.sampler_steps;
  so.guidance = o.guidance;
  if (loop) validate(so, schedule);
  const auto uncond =
      loop ? torch::randn({1, o.text_tokens, c.cross_attention_dim[0]}, opts) : at::Tensor();
  auto run = [&](UnitObserver* obs) {
    if (!loop) return call_unet(sample, timestep, ehs, obs);
    ConditionalModel model = [&](const at::Tensor& x, double t, const at::Tensor& cond) {
      return call_unet(x, torch::full({x.size(0)}, t, timestep.options().dtype(torch::kFloat32)),
                       cond, obs);
    };
    return asdm::sample(guided(model, ehs, uncond, o.guidance), sample, schedule, so);
  };

  // Whole forwards: CUDA events for the CUDA backends, a device-synchronised steady clock for the
  // timer (its per-unit clock synchronises too), the steady clock on the CPU.
  std::unique_ptr<CudaEventTimer> events;
  if (cuda && o.backend != "timer") {
    std::string why;
    const CudaRuntime* rt = cuda_runtime(&why);
    if (!rt) fail("a CUDA forward asked for, but {}", why);
    events = std::make_unique<CudaEventTimer>(*rt);
  }
  auto sync = [cuda] {
    if (cuda) torch::cuda::synchronize();
  };
  torch::InferenceMode guard;
  auto timed = [&](UnitObserver* obs) {
    if (events) {
      events->start();
      run(obs);
      events->stop();
      return events->elapsed_ms();
    }
    sync();
    const double t0 = UnitTimer::steady_ms();
    run(obs);
    sync();
    return UnitTimer::steady_ms() - t0;
  };
  ProfileReport r;
  Measurements ms;
  ProfileOptions latency = o;
  if (both) latency.backend = "cuda-events";
  if (o.graphs)
    measure_replays(o, unet.device(), run, *events, r, ms);
  else
    measure_forwards(latency, cuda, timed, r, ms);
  r.graphs = o.graphs;
  r.channels_last = unet.channels_last();
  summarise(unet, latency, latent, res, max_batch, ms, r);
  r.requested_backend = o.backend;
  if (both && cuda) {
    // The kernel view: a second, shorter pass with CUPTI (after the events pass, since CUPTI stays
    // attached once started), its kernel fields joined to the events pass's units.
    ProfileOptions kernels = latency;
    kernels.backend = "cupti";
    kernels.runs = std::min(o.runs, 5);
    kernels.warmup = std::min(o.warmup, 1);
    kernels.progress = {};
    ProfileReport k;
    Measurements km;
    measure_forwards(kernels, cuda, timed, k, km);
    summarise(unet, kernels, latent, res, max_batch, km, k);
    if (k.backend != "cupti") {
      r.fallback_note = "no kernel pass: " + k.fallback_note;
    } else {
      r.kernel_backend = "cupti";
      for (size_t i = 0; i < r.units.size(); ++i) {
        r.units[i].kernel_sum_ms = k.units[i].kernel_sum_ms;
        r.units[i].device_span_ms = k.units[i].device_span_ms;
        r.units[i].kernel_count = k.units[i].kernel_count;
        r.units[i].top_kernels = k.units[i].top_kernels;
      }
      r.device_ms = k.device_ms;
      r.activities = k.activities;
      r.unattributed = k.unattributed;
      r.dropped = k.dropped;
      r.backend_detail += (r.backend_detail.empty() ? "" : "; ") +
                          fmt::format("kernels from a separate CUPTI pass of {} forwards: {}",
                                      kernels.runs, k.backend_detail);
    }
  } else if (both) {
    r.fallback_note +=
        (r.fallback_note.empty() ? "" : "; ") + std::string("no CUPTI kernel pass on the CPU");
  }
  return r;
}

nlohmann::json chrome_trace(const ProfileReport& r) {
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"name", "process_name"},
                    {"ph", "M"},
                    {"pid", 1},
                    {"args", {{"name", "asdm UNet forward"}}}});
  events.push_back({{"name", "thread_name"},
                    {"ph", "M"},
                    {"pid", 1},
                    {"tid", 1},
                    {"args", {{"name", fmt::format("units (host, {})", r.backend)}}}});
  for (const auto& s : r.trace.units) {
    nlohmann::json args = {{"exclusive_ms", s.exclusive_ms}, {"depth", s.depth}};
    if (r.backend == "cupti") {
      args["kernel_sum_ms"] = s.kernel_sum_ms;
      args["kernel_count"] = s.kernel_count;
    }
    events.push_back({{"name", s.id},
                      {"cat", "unit"},
                      {"ph", "X"},
                      {"ts", s.start_ms * 1e3},
                      {"dur", std::max(0.0, s.span_ms) * 1e3},
                      {"pid", 1},
                      {"tid", 1},
                      {"args", args}});
  }
  // Device activities (CUPTI): one GPU track per stream.
  std::map<uint32_t, bool> streams;
  for (const auto& d : r.trace.device) {
    if (!streams.count(d.stream)) {
      streams[d.stream] = true;
      events.push_back({{"name", "thread_name"},
                        {"ph", "M"},
                        {"pid", 2},
                        {"tid", int64_t(d.stream)},
                        {"args", {{"name", fmt::format("GPU stream {}", d.stream)}}}});
    }
    events.push_back({{"name", d.name},
                      {"cat", "kernel"},
                      {"ph", "X"},
                      {"ts", d.start_ms * 1e3},
                      {"dur", d.dur_ms * 1e3},
                      {"pid", 2},
                      {"tid", int64_t(d.stream)},
                      {"args", {{"unit", d.unit.empty() ? "(none)" : d.unit}}}});
  }
  if (!streams.empty())
    events.push_back(
        {{"name", "process_name"}, {"ph", "M"}, {"pid", 2}, {"args", {{"name", "GPU (CUPTI)"}}}});
  return {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
}

std::vector<Summary> time_forwards_interleaved(const std::vector<const UNet*>& unets,
                                               const ProfileOptions& o,
                                               const std::function<void(int, int)>& progress,
                                               std::vector<int64_t>* peak_bytes) {
  if (o.graphs)
    for (const UNet* u : unets) require_graphs(u->device(), "timing with --graphs");
  std::vector<ForwardInputs> inputs;
  inputs.reserve(unets.size());
  for (const UNet* u : unets) inputs.emplace_back(*u, o);
  torch::InferenceMode guard;
  if (peak_bytes) {
    peak_bytes->clear();
    for (const auto& in : inputs) {
      PeakMemory memory;
      in.forward();
      if (in.cuda) torch::cuda::synchronize();
      peak_bytes->push_back(memory.peak_bytes());
    }
  }
  // --graphs: every UNet's forward captured into its own graph (after the peak-memory forward,
  // which runs eagerly), so that each is timed as deployed.
  std::vector<std::unique_ptr<CudaGraph>> graphs;
  if (o.graphs) {
    for (size_t k = 0; k < inputs.size(); ++k) {
      graphs.push_back(std::make_unique<CudaGraph>(unets[k]->device()));
      graphs.back()->capture([&] { inputs[k].forward(); }, std::max(1, o.warmup));
    }
  }
  auto timed = [&](size_t k) {
    const ForwardInputs& in = inputs[k];
    if (in.cuda) torch::cuda::synchronize();
    const double t0 = UnitTimer::steady_ms();
    if (graphs.empty())
      in.forward();
    else
      graphs[k]->replay();
    if (in.cuda) torch::cuda::synchronize();
    return UnitTimer::steady_ms() - t0;
  };
  const int total = static_cast<int>(unets.size()) * (o.warmup + o.runs);
  int done = 0;
  std::vector<std::vector<double>> ms(unets.size());
  for (int round = 0; round < o.warmup + o.runs; ++round)
    for (size_t k = 0; k < inputs.size(); ++k) {
      const double t = timed(k);
      if (round >= o.warmup) ms[k].push_back(t);
      if (progress) progress(++done, total);
    }
  std::vector<Summary> out;
  for (const auto& v : ms) out.push_back(summarize(v));
  return out;
}

void write_chrome_trace(const ProfileReport& r, const std::filesystem::path& path) {
  write_json_atomic(path, chrome_trace(r));
}

}  // namespace asdm
