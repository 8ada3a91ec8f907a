#include "model/runtime.h"

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <torch/torch.h>
#include <torch/version.h>

#include "core/error.h"

namespace asdm {

void set_threads(int threads) {
  if (threads > 0) torch::set_num_threads(threads);
}

std::string torch_version() { return TORCH_VERSION; }

namespace {

// The folder holding libtorch_cpu.so (the CUDA libraries sit beside it in the wheel).
std::filesystem::path torch_lib_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&torch::get_num_threads), &info) && info.dli_fname)
    return std::filesystem::path(info.dli_fname).parent_path();
  return {};
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  }
  return "cpu";
}
// The GPU's name from the driver (loaded by then), e.g. "NVIDIA H100 80GB HBM3"; "" if unknown.
std::string gpu_name(const std::string& device) {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (!lib) return "";
  using Fn = int (*)(char*, int, int);
  auto fn = reinterpret_cast<Fn>(dlsym(lib, "cuDeviceGetName"));
  if (!fn) return "";
  int index = 0;
  try {
    index = std::max<int>(0, torch::Device(device).index());
  } catch (const c10::Error&) {
    return "";
  }
  char name[256] = {};
  return fn(name, sizeof(name) - 1, index) == 0 ? std::string(name) : std::string();
}
}  // namespace

void ensure_device(const std::string& device) {
  torch::Device dev(torch::kCPU);
  try {
    dev = torch::Device(device);
  } catch (const c10::Error&) {
    fail("unknown device '{}' (known: cpu, cuda, cuda:N)", device);
  }
  if (dev.is_cpu()) return;
  if (!dev.is_cuda()) fail("unknown device '{}' (known: cpu, cuda, cuda:N)", device);
#ifndef ASDM_WITH_CUDA
  fail("device '{}' asked for, but this asdm was built without CUDA (ASDM_WITH_CUDA=OFF)", device);
#else
  static bool loaded = false;
  if (!loaded) {
    const auto lib = torch_lib_dir() / "libtorch_cuda.so";
    if (!dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL) &&
        !dlopen("libtorch_cuda.so", RTLD_NOW | RTLD_GLOBAL))
      fail("device '{}' asked for, but libtorch_cuda could not be loaded: {}", device, dlerror());
    loaded = true;
  }
  if (!torch::cuda::is_available()) {
    // libtorch caches its CUDA hooks on first use (torch::manual_seed, for one): if that happened
    // before libtorch_cuda was loaded, a present device stays invisible to it.
    using CountFn = int (*)(int*);
    auto count = reinterpret_cast<CountFn>(dlsym(RTLD_DEFAULT, "cudaGetDeviceCount"));
    int n = 0;
    if (count && count(&n) == 0 && n > 0)
      fail(
          "device '{}' asked for: {} CUDA device(s) present, but libtorch initialised without CUDA "
          "(call "
          "ensure_device before any tensor work)",
          device, n);
    fail("device '{}' asked for, but no CUDA device is available", device);
  }
#endif
}

RunContext make_run_context(const std::vector<std::string>& argv, const std::string& device) {
  RunContext c;
  c.argv = argv;
  c.threads = torch::get_num_threads();
  c.torch_version = torch_version();
  if (device.rfind("cuda", 0) == 0) {
    c.device_kind = "cuda";
    const std::string name = gpu_name(device);
    c.device_name = name.empty() ? device : name + " (" + device + ")";
  } else {
    c.device_kind = "cpu";
    c.device_name = cpu_name();
  }
  return c;
}

void move_module(torch::nn::Module& module, const std::string& device, const std::string& dtype) {
  const torch::Dtype t = torch_dtype(parse_dtype(dtype));
  ensure_device(device);  // validates the name, loads the CUDA backend when asked for
  module.to(torch::Device(device), t);
}

std::string beside_binary(const std::string& file) {
  char exe[4096] = {};
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return {};
  return (std::filesystem::path(std::string(exe, size_t(n))).parent_path() / file).string();
}

c10::ScalarType torch_dtype(DType dtype) {
  switch (dtype) {
    case DType::kFloat16:
      return torch::kFloat16;
    case DType::kBFloat16:
      return torch::kBFloat16;
    case DType::kFloat32:
      break;
  }
  return torch::kFloat32;
}

}  // namespace asdm
