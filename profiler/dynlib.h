#pragma once
// Run-time lookup of the CUDA libraries libtorch already loads (libcudart, libcupti): asdm links
// none of them. Shared by profiler/cuda_runtime.cpp and profiler/cupti_backend.cpp.
#include <dlfcn.h>

#include <initializer_list>
#include <string>
#include <type_traits>

#include <fmt/format.h>

namespace asdm::dynlib {

// The first of `names` already loaded in the process, else the first that loads; nullptr if none.
inline void* open(std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (void* h = dlopen(n, RTLD_NOW | RTLD_NOLOAD)) return h;
  for (const char* n : names)
    if (void* h = dlopen(n, RTLD_NOW | RTLD_GLOBAL)) return h;
  return nullptr;
}

// Resolves `name` into the function pointer `fn`; records the first missing symbol in `missing`.
template <class Fn>
void resolve(void* lib, Fn& fn, const char* name, const char* lib_name, std::string& missing) {
  fn = reinterpret_cast<std::remove_reference_t<Fn>>(dlsym(lib, name));
  if (!fn && missing.empty()) missing = fmt::format("{} has no {}", lib_name, name);
}

}  // namespace asdm::dynlib
