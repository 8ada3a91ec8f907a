#include "model/cuda_graph.h"

#include <dlfcn.h>

#include <filesystem>
#include <stdexcept>

#include <fmt/ranges.h>
#include <torch/torch.h>

#include "core/error.h"
#include "model/cuda_graph_plugin.h"
#include "model/runtime.h"

namespace asdm {

namespace {

constexpr const char* kPlugin = "libasdm_cuda_graphs.so";

// Where the plugin is looked for: $ASDM_CUDA_GRAPHS_PLUGIN, beside the running binary, then the
// build folder it was made in (for the test executables, which sit below it).
std::vector<std::string> plugin_candidates() {
  std::vector<std::string> out;
  if (const char* p = std::getenv("ASDM_CUDA_GRAPHS_PLUGIN"); p && *p) return {p};
  if (std::string p = beside_binary(kPlugin); !p.empty()) out.push_back(p);
#ifdef ASDM_PLUGIN_DIR
  out.push_back((std::filesystem::path(ASDM_PLUGIN_DIR) / kPlugin).string());
#endif
  return out;
}

AsdmCudaGraphNew plugin_entry(const std::string& what) {
  static AsdmCudaGraphNew entry = nullptr;
  static std::string why;
  if (entry) return entry;
  if (why.empty()) {
    const auto candidates = plugin_candidates();
    void* lib = nullptr;
    std::string errors;
    for (const auto& c : candidates) {
      if (!std::filesystem::exists(c)) continue;
      lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib) break;
      errors = dlerror();
    }
    if (!lib)
      why = errors.empty() ? fmt::format("the plugin {} was not found (looked in: {})", kPlugin,
                                         fmt::join(candidates, ", "))
                           : fmt::format("the plugin {} did not load: {}", kPlugin, errors);
    else if (!(entry = reinterpret_cast<AsdmCudaGraphNew>(dlsym(lib, "asdm_cuda_graph_new"))))
      why = fmt::format("{} is not asdm's CUDA-graphs plugin", kPlugin);
  }
  if (!entry) fail("{} needs CUDA graphs, but {}", what, why);
  return entry;
}

}  // namespace

void require_graphs(const std::string& device, const std::string& what) {
  torch::Device d(torch::kCPU);
  try {
    d = torch::Device(device);
  } catch (const c10::Error&) {
    fail("unknown device '{}' (known: cpu, cuda, cuda:N)", device);
  }
  if (!d.is_cuda())
    fail(
        "{} needs a CUDA device (--device cuda): CUDA graphs hold GPU work; on the {} every "
        "forward runs eagerly",
        what, device);
  ensure_device(device);
  plugin_entry(what);
}

CudaGraph::CudaGraph(const std::string& device) {
  require_graphs(device, "a CUDA graph");
  const torch::Device d(device);
  char error[1024] = {};
  plugin_.reset(plugin_entry("a CUDA graph")(d.has_index() ? d.index() : 0, error, sizeof error));
  if (!plugin_) fail("could not make a CUDA graph on {}: {}", device, error);
}

CudaGraph::~CudaGraph() = default;

namespace {

// The plugin's errors (std::runtime_error) as asdm::Error; asdm's own pass through.
template <class F>
void plugin_call(F f) {
  try {
    f();
  } catch (const Error&) {
    throw;
  } catch (const std::runtime_error& e) {
    fail("{}", e.what());
  }
}

}  // namespace

void CudaGraph::capture(const std::function<void()>& fn, int warmup) {
  ASDM_CHECK(!captured_, "a CUDA graph is captured once");
  plugin_call([&] { plugin_->enter_stream(); });
  try {
    for (int i = 0; i < warmup; ++i) fn();
    plugin_call([&] { plugin_->begin_capture(); });
    capturing_ = true;
    fn();
    capturing_ = false;
    plugin_call([&] { plugin_->end_capture(); });
  } catch (...) {
    // Ends a capture that fn broke off (its graph is discarded) and goes back to the stream
    // before; the first error is the one reported.
    if (capturing_) {
      capturing_ = false;
      try {
        plugin_->end_capture();
      } catch (...) {
      }
    }
    try {
      plugin_->leave_stream();
    } catch (...) {
    }
    throw;
  }
  plugin_call([&] { plugin_->leave_stream(); });
  captured_ = true;
}

void CudaGraph::replay() {
  ASDM_CHECK(captured_, "replay of a CUDA graph that was not captured");
  plugin_call([&] { plugin_->replay(); });
}

void* CudaGraph::stream() const { return plugin_->current_stream(); }

}  // namespace asdm

namespace asdm {

struct GraphedFunction::State {
  std::string device, what;
  Fn fn;
  int warmup = 2;
  std::unique_ptr<CudaGraph> graph;
  std::vector<at::Tensor> inputs;
  at::Tensor output;
};

namespace {

std::string describe(const std::vector<at::Tensor>& ts) {
  std::string out;
  for (const auto& t : ts)
    out += fmt::format("{}{} [{}]", out.empty() ? "" : ", ", std::string(t.dtype().name()),
                       fmt::join(t.sizes(), ", "));
  return out;
}

}  // namespace

GraphedFunction::GraphedFunction(const std::string& device, Fn fn, std::string what, int warmup)
    : state_(std::make_unique<State>()) {
  require_graphs(device, what);
  state_->device = device;
  state_->what = std::move(what);
  state_->fn = std::move(fn);
  state_->warmup = warmup;
}

GraphedFunction::~GraphedFunction() = default;

at::Tensor GraphedFunction::operator()(const std::vector<at::Tensor>& inputs) {
  State& s = *state_;
  const torch::Device device(s.device);
  if (!s.graph) {
    {
      // Normal tensors, not inference ones, so that later calls may copy into them in or out of
      // inference mode.
      c10::InferenceMode normal(false);
      for (const auto& t : inputs) s.inputs.push_back(t.to(device).clone());
    }
    s.graph = std::make_unique<CudaGraph>(s.device);
    s.graph->capture([&] { s.output = s.fn(s.inputs); }, s.warmup);
  } else {
    bool same = inputs.size() == s.inputs.size();
    for (size_t i = 0; same && i < inputs.size(); ++i)
      same = inputs[i].sizes() == s.inputs[i].sizes() &&
             inputs[i].scalar_type() == s.inputs[i].scalar_type();
    if (!same)
      fail(
          "{}: the CUDA graph was captured for inputs {}; this call has {} (a graph replays fixed "
          "shapes)",
          s.what, describe(s.inputs), describe(inputs));
    for (size_t i = 0; i < inputs.size(); ++i) s.inputs[i].copy_(inputs[i]);
  }
  s.graph->replay();
  ++replays_;
  return s.output.clone();
}

}  // namespace asdm
