// libFuzzer target for the .npz reader (zip directory, ZIP64 extras, deflate, CRC) and the .npy
// parser: any byte string must either parse or raise asdm::Error; never crash, hang, leak, read
// out of bounds or throw anything else. Built and run by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "eval/npz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  // The same bytes as a zip of .npy members (read_npz) and as one .npy image.
  try {
    for (const auto& [name, member] : asdm::parse_zip(bytes, "fuzz.npz")) {
      const auto a = asdm::parse_npy(member, name);
      if (static_cast<int64_t>(a.data.size()) != a.numel()) __builtin_trap();
    }
  } catch (const asdm::Error&) {
  }
  try {
    const auto a = asdm::parse_npy(bytes, "fuzz.npy");
    if (static_cast<int64_t>(a.data.size()) != a.numel()) __builtin_trap();
  } catch (const asdm::Error&) {
  }
  return 0;
}
