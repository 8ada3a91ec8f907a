#include "distributed/group.h"

#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

#include "core/error.h"
#include "core/log.h"
#include "model/runtime.h"

#ifdef ASDM_WITH_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace asdm::dist {

namespace {

std::string first_line(std::string s) {
  if (auto nl = s.find('\n'); nl != std::string::npos) s = s.substr(0, nl);
  return s;
}

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// Seconds a collective or a store read waits for the other ranks (ASDM_DIST_TIMEOUT, default 30
// minutes: a rank may be writing a checkpoint or evaluating while the others wait).
std::chrono::milliseconds timeout() {
  double s = 1800;
  if (const char* v = std::getenv("ASDM_DIST_TIMEOUT"); v && *v) {
    char* end = nullptr;
    s = std::strtod(v, &end);
    if (end == v || *end || s <= 0) fail("ASDM_DIST_TIMEOUT='{}' is not a number of seconds", v);
  }
  return std::chrono::milliseconds(int64_t(s * 1000));
}

bool loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

// A process on this host that no longer runs (gone, or a zombie nobody reaped yet).
bool gone(long pid) {
  if (kill(pid_t(pid), 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

#ifdef ASDM_WITH_GLOO
// ProcessGroupGloo on the interface GLOO_SOCKET_IFNAME names, else loopback for a master on this
// machine, else the address the host name resolves to.
c10::intrusive_ptr<c10d::Backend> gloo_backend(const LaunchEnv& env,
                                               const c10::intrusive_ptr<c10d::Store>& store,
                                               std::chrono::milliseconds wait) {
  try {
    auto opts = c10d::ProcessGroupGloo::Options::create();
    opts->timeout = wait;
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (loopback(env.master_addr))
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    return c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world, opts);
  } catch (const std::exception& e) {
    fail("{}: could not start Gloo ({})", env.describe(), first_line(e.what()));
  }
}

// ProcessGroupNCCL from the plugin beside the binary (distributed/nccl_plugin.cpp); null, with a
// warning, when there is none (the job then uses Gloo through host memory).
c10::intrusive_ptr<c10d::Backend> nccl_backend(const LaunchEnv& env,
                                               const c10::intrusive_ptr<c10d::Store>& store,
                                               std::chrono::milliseconds wait) {
  const char* given = std::getenv("ASDM_NCCL_PLUGIN");
  const std::string path = given && *given ? std::string(given) : beside_binary("libasdm_nccl.so");
  void* lib = path.empty() ? nullptr : dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    log::warn("{}: no NCCL plugin ({}); CUDA tensors are reduced with Gloo through host memory",
              env.describe(), dlerror());
    return {};
  }
  using Make = c10d::Backend* (*)(c10d::Store*, int, int, long long, char*, unsigned long);
  auto make = reinterpret_cast<Make>(dlsym(lib, "asdm_nccl_backend"));
  if (!make) fail("{}: {} is not asdm's NCCL plugin", env.describe(), path);
  char error[1024] = {};
  c10d::Backend* pg =
      make(store.get(), env.rank, env.world, (long long)wait.count(), error, sizeof error);
  if (!pg) fail("{}: could not start NCCL ({})", env.describe(), first_line(error));
  return c10::intrusive_ptr<c10d::Backend>::reclaim(pg);
}
#endif

// Whether rank r ran on this host and is gone (peers: each rank's host and pid).
bool peer_gone(const std::vector<std::pair<std::string, long>>& peers, size_t r) {
  return r < peers.size() && peers[r].first == host_name() && gone(peers[r].second);
}

// Tensors in buckets of about 25 MB (indices into `tensors`, in `order`), a new bucket where the
// dtype or device changes: one collective each.
std::vector<std::vector<size_t>> buckets_of(const std::vector<at::Tensor>& tensors,
                                            const std::vector<size_t>& order) {
  constexpr int64_t kBucketBytes = 25 << 20;
  std::vector<std::vector<size_t>> buckets;
  int64_t bytes = 0;
  for (size_t i : order) {
    const at::Tensor& t = tensors[i];
    const bool fresh = buckets.empty() || bytes >= kBucketBytes ||
                       tensors[buckets.back().front()].scalar_type() != t.scalar_type() ||
                       tensors[buckets.back().front()].device() != t.device();
    if (fresh) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(i);
    bytes += t.numel() * int64_t(t.element_size());
  }
  return buckets;
}

// One bucket as a flat tensor (undefined members count as zeros of `shapes`' size), and back.
at::Tensor flatten(const std::vector<at::Tensor>& members, const std::vector<at::Tensor>& shapes) {
  std::vector<at::Tensor> flat;
  for (size_t i = 0; i < members.size(); ++i)
    flat.push_back(members[i].defined() ? members[i].reshape(-1)
                                        : torch::zeros({shapes[i].numel()}, shapes[i].options()));
  return torch::cat(flat);
}

void scatter(const at::Tensor& flat, const std::vector<at::Tensor>& members,
             const std::vector<at::Tensor>& shapes) {
  int64_t at = 0;
  for (size_t i = 0; i < members.size(); ++i) {
    const int64_t n = shapes[i].numel();
    if (members[i].defined()) members[i].copy_(flat.slice(0, at, at + n).view(members[i].sizes()));
    at += n;
  }
}

}  // namespace

struct Group::Impl {
#ifdef ASDM_WITH_GLOO
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;
#endif
  std::string backend;
  bool stage_on_host = false;                       // CUDA tensors through Gloo
  std::vector<std::pair<std::string, long>> peers;  // (host, pid) per rank
  int64_t sequence = 0;                             // store keys of all_gather
};

Group::Group(LaunchEnv env) : env_(std::move(env)), impl_(std::make_unique<Impl>()) {}
Group::~Group() = default;

std::unique_ptr<Group> Group::single() { return std::unique_ptr<Group>(new Group(LaunchEnv{})); }

std::string Group::backend() const { return impl_->backend; }

std::unique_ptr<Group> Group::join(const std::string& device) {
  return join(LaunchEnv::from_environment(), device);
}

std::unique_ptr<Group> Group::join(const LaunchEnv& env, const std::string& device_arg) {
  const std::string device = env.local_device(device_arg);
  if (!env.distributed()) {
    std::unique_ptr<Group> g(new Group(env));
    g->device_ = device;
    return g;
  }
#ifndef ASDM_WITH_GLOO
  fail(
      "{}: this asdm was built without c10d support (Gloo's headers were not found at configure "
      "time: set ASDM_GLOO_INCLUDE_DIR); run one process",
      env.describe());
#else
  std::unique_ptr<Group> g(new Group(env));
  g->device_ = device;
  Impl& im = *g->impl_;
  const auto wait = timeout();
  // Under torchrun the agent already serves a store at MASTER_ADDR:MASTER_PORT (and says so): every
  // rank is its client, and keys are kept apart per restart of the job.
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  const bool agent_store = agent && std::string(agent) == "True";
  const char* restart = std::getenv("TORCHELASTIC_RESTART_COUNT");
  c10d::TCPStoreOptions so;
  so.port = uint16_t(env.master_port);
  so.isServer = env.rank == 0 && !agent_store;
  so.numWorkers = size_t(env.world);
  so.waitWorkers = true;
  so.timeout = wait;
  try {
    im.store = c10::make_intrusive<c10d::PrefixStore>(
        fmt::format("asdm/{}", restart && *restart ? restart : "0"),
        c10::make_intrusive<c10d::TCPStore>(env.master_addr, so));
  } catch (const std::exception& e) {
    const std::string what = first_line(e.what());
    if (env.rank == 0 &&
        (what.find("in use") != std::string::npos || what.find("EADDRINUSE") != std::string::npos))
      fail("{}: MASTER_PORT {} on {} is taken (another job?); choose another port ({})",
           env.describe(), env.master_port, env.master_addr, what);
    fail("{}: could not meet the other ranks at {}:{} ({})", env.describe(), env.master_addr,
         env.master_port, what);
  }
  const bool cuda = device.rfind("cuda", 0) == 0;
  if (cuda) {
    ensure_device(device);  // loads libtorch_cuda, which the NCCL plugin needs
    im.pg = nccl_backend(env, im.store, wait);
  }
  if (im.pg) {
    im.backend = "nccl";
  } else {
    im.pg = gloo_backend(env, im.store, wait);
    im.backend = "gloo";
    im.stage_on_host = cuda;
  }
  // Who is who, so that a failure can say which rank on this host is gone.
  const std::vector<std::string> peers =
      g->all_gather(host_name() + " " + std::to_string(long(getpid())), "the ranks' addresses");
  for (const auto& p : peers) {
    const size_t sp = p.rfind(' ');
    im.peers.emplace_back(p.substr(0, sp), std::atol(p.c_str() + sp + 1));
  }
  log::debug("{}: joined with {} over {}:{}", env.describe(), im.backend, env.master_addr,
             env.master_port);
  return g;
#endif
}

#ifdef ASDM_WITH_GLOO
namespace {

// Runs a collective; any failure becomes one line naming this rank, the operation and the ranks on
// this host that are gone.
template <typename F>
auto guarded(const LaunchEnv& env, const std::vector<std::pair<std::string, long>>& peers,
             const std::string& op, const std::string& what, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::vector<std::string> dead;
    for (size_t r = 0; r < peers.size(); ++r)
      if (int(r) != env.rank && peer_gone(peers, r))
        dead.push_back(fmt::format("rank {} (pid {})", r, peers[r].second));
    const std::string who = dead.empty() ? std::string("another rank stopped or cannot be reached")
                                         : fmt::format("{} {} gone", join_limited(dead),
                                                       dead.size() == 1 ? "is" : "are");
    fail("{}: {} of {} failed: {}; {}", env.describe(), op, what, who, first_line(e.what()));
  }
}

}  // namespace
#endif

void Group::all_reduce_mean(const std::vector<at::Tensor>& tensors, const std::string& what) {
  if (!env_.distributed() || tensors.empty()) return;
#ifdef ASDM_WITH_GLOO
  guarded(env_, impl_->peers, "all-reduce", what, [&] {
    torch::NoGradGuard ng;
    std::vector<size_t> order(tensors.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::vector<std::vector<at::Tensor>> members;
    std::vector<at::Tensor> flats;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (const auto& bucket : buckets_of(tensors, order)) {
      members.emplace_back();
      for (size_t i : bucket) members.back().push_back(tensors[i]);
      flats.push_back(flatten(members.back(), members.back()));
      if (impl_->stage_on_host) flats.back() = flats.back().cpu();
      std::vector<at::Tensor> io{flats.back()};
      works.push_back(impl_->pg->allreduce(io));
    }
    for (size_t b = 0; b < works.size(); ++b) {
      works[b]->wait(timeout());
      scatter(flats[b].div_(env_.world), members[b], members[b]);
    }
  });
#endif
}

// ---- gradients reduced during backward -------------------------------------------------------

struct Group::GradientReducer::State {
  Group* group = nullptr;
  std::vector<at::Tensor> params;
  std::vector<std::vector<size_t>> buckets;  // parameter indices
  std::vector<size_t> bucket_of;
  std::mutex mutex;
  bool armed = false;
  std::vector<int> pending;  // gradients still to come per bucket
  size_t next = 0;           // the next bucket to start
#ifdef ASDM_WITH_GLOO
  std::vector<at::Tensor> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
#endif
  std::string error;  // a failure inside a hook, raised by finish()

  void reset() {
    armed = false;
    next = 0;
    pending.assign(buckets.size(), 0);
    for (size_t b = 0; b < buckets.size(); ++b) pending[b] = int(buckets[b].size());
#ifdef ASDM_WITH_GLOO
    flats.assign(buckets.size(), at::Tensor());
    works.assign(buckets.size(), {});
#endif
  }

  void start(size_t b) {
#ifdef ASDM_WITH_GLOO
    torch::NoGradGuard ng;
    flats[b] = flatten(grads(b), bucket_params(b));
    if (group->impl_->stage_on_host) flats[b] = flats[b].cpu();
    std::vector<at::Tensor> io{flats[b]};
    works[b] = group->impl_->pg->allreduce(io);
#endif
  }

  std::vector<at::Tensor> bucket_params(size_t b) const {
    std::vector<at::Tensor> out;
    for (size_t i : buckets[b]) out.push_back(params[i]);
    return out;
  }
  std::vector<at::Tensor> grads(size_t b) const {
    std::vector<at::Tensor> out;
    for (size_t i : buckets[b]) out.push_back(params[i].grad());
    return out;
  }

  // Starts the buckets that are complete, in order.
  void start_ready() {
    while (next < buckets.size() && pending[next] == 0) start(next++);
  }

  void accumulated(size_t i) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!armed || !error.empty()) return;
    try {
      --pending[bucket_of[i]];
      start_ready();
    } catch (const std::exception& e) {
      error = first_line(e.what());
    }
  }
};

namespace {

struct AccumulatedHook : torch::autograd::PostAccumulateGradHook {
  AccumulatedHook(std::shared_ptr<Group::GradientReducer::State> s, size_t i)
      : state(std::move(s)), index(i) {}
  void operator()(const torch::autograd::Variable&) override { state->accumulated(index); }
  std::shared_ptr<Group::GradientReducer::State> state;
  size_t index;
};

}  // namespace

Group::GradientReducer::GradientReducer(Group& group, std::vector<at::Tensor> params)
    : state_(std::make_shared<State>()) {
  State& s = *state_;
  s.group = &group;
  s.params = std::move(params);
  if (!group.env().distributed()) return;
  std::vector<size_t> reverse(s.params.size());
  for (size_t i = 0; i < reverse.size(); ++i) reverse[i] = reverse.size() - 1 - i;
  s.buckets = buckets_of(s.params, reverse);
  s.bucket_of.assign(s.params.size(), 0);
  for (size_t b = 0; b < s.buckets.size(); ++b)
    for (size_t i : s.buckets[b]) s.bucket_of[i] = b;
  s.reset();
  for (size_t i = 0; i < s.params.size(); ++i)
    torch::autograd::impl::set_post_acc_grad_hooks(s.params[i],
                                                   std::make_unique<AccumulatedHook>(state_, i));
}

Group::GradientReducer::~GradientReducer() {
  if (!state_->group->env().distributed()) return;
  for (auto& p : state_->params) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
}

size_t Group::GradientReducer::buckets() const { return state_->buckets.size(); }

size_t Group::GradientReducer::started() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->next;
}

void Group::GradientReducer::arm() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->reset();
  state_->armed = true;
}

void Group::GradientReducer::finish(const std::string& what) {
  State& s = *state_;
  if (!s.group->env().distributed()) return;
#ifdef ASDM_WITH_GLOO
  std::lock_guard<std::mutex> lock(s.mutex);
  guarded(s.group->env(), s.group->impl_->peers, "all-reduce", what, [&] {
    if (!s.error.empty()) throw std::runtime_error(s.error);
    while (s.next < s.buckets.size()) s.start(s.next++);
    torch::NoGradGuard ng;
    for (size_t b = 0; b < s.buckets.size(); ++b) {
      s.works[b]->wait(timeout());
      scatter(s.flats[b].div_(s.group->world()), s.grads(b), s.bucket_params(b));
    }
  });
  s.reset();
#endif
}

void Group::broadcast(const std::vector<at::Tensor>& tensors, const std::string& what) {
  if (!env_.distributed() || tensors.empty()) return;
#ifdef ASDM_WITH_GLOO
  guarded(env_, impl_->peers, "broadcast", what, [&] {
    torch::NoGradGuard ng;
    for (const auto& t : tensors) {
      at::Tensor buf = impl_->stage_on_host ? t.cpu().contiguous() : t.contiguous();
      std::vector<at::Tensor> io{buf};
      impl_->pg->broadcast(io)->wait(timeout());
      if (!buf.is_same(t)) t.copy_(buf);
    }
  });
#endif
}

std::vector<std::string> Group::all_gather(const std::string& mine, const std::string& what) {
  if (!env_.distributed()) return {mine};
#ifdef ASDM_WITH_GLOO
  const int64_t seq = impl_->sequence++;
  return guarded(env_, impl_->peers, "exchange", what, [&] {
    auto key = [&](int r) { return fmt::format("asdm/gather/{}/{}", seq, r); };
    impl_->store->set(key(env_.rank), std::vector<uint8_t>(mine.begin(), mine.end()));
    std::vector<std::string> all;
    for (int r = 0; r < env_.world; ++r) {
      // Polled (the store's own timed wait logs a warning each time it expires), so that a rank
      // that died on this host stops the wait at once: the store cannot tell a dead rank from a
      // slow one.
      const auto deadline = std::chrono::steady_clock::now() + timeout();
      for (int polls = 0; !impl_->store->check({key(r)}); ++polls) {
        if (peer_gone(impl_->peers, size_t(r)))
          throw std::runtime_error(fmt::format("rank {} stopped before sending its part", r));
        if (std::chrono::steady_clock::now() > deadline)
          throw std::runtime_error(fmt::format("rank {} sent nothing in {} s (ASDM_DIST_TIMEOUT)",
                                               r, timeout().count() / 1000));
        std::this_thread::sleep_for(std::chrono::milliseconds(polls < 100 ? 10 : 200));
      }
      const std::vector<uint8_t> v = impl_->store->get(key(r));
      all.emplace_back(v.begin(), v.end());
    }
    return all;
  });
#else
  return {mine};
#endif
}

void Group::barrier(const std::string& what) {
  if (!env_.distributed()) return;
  all_gather("", what);
}

void Group::check_same(
    const std::string& what, const std::string& mine,
    const std::function<std::string(const std::string&, const std::string&)>& difference) {
  if (!env_.distributed()) return;
  const std::vector<std::string> all = all_gather(mine, what);
  for (int r = 1; r < env_.world; ++r) {
    if (all[r] == all[0]) continue;
    const std::string how = difference ? difference(all[0], all[r]) : std::string();
    if (difference && how.empty()) continue;
    fail("ranks disagree on {}: rank {} differs from rank 0{}{} (start every rank the same way)",
         what, r, how.empty() ? "" : ": ", how);
  }
}

}  // namespace asdm::dist
