// libFuzzer target for the safetensors header parser: any byte string must either parse or raise
// asdm::Error; never crash, hang, leak or read out of bounds. Built and run by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto h = asdm::parse_safetensors(data, size, "fuzz");
    // A parse that succeeded promises in-bounds tensors; touch every byte they name.
    volatile uint8_t sink = 0;
    for (const auto& t : h.tensors)
      for (uint64_t i = t.begin; i < t.end; ++i) sink ^= data[h.data_offset + i];
    (void)sink;
  } catch (const asdm::Error&) {
  }
  return 0;
}
