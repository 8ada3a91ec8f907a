// libFuzzer target for the torch.save reader (eval/state_dict.h over model/torch_save.h): the zip
// format's data.pkl and storages, and the legacy format, through asdm's pickle machine. Any byte
// string must either give tensors or raise asdm::Error; never crash, read out of bounds, throw
// anything else (a c10::Error from libtorch included) or ask for memory the file cannot back. Built
// and run by scripts/fuzz.sh (against the .venv's libtorch).
#include <cstddef>
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "core/error.h"
#include "eval/state_dict.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const asdm::TensorMap tensors = asdm::parse_torch_save(bytes, "fuzz.pt");
    // A read that succeeded promises whole tensors: touch every byte of each.
    volatile uint8_t sink = 0;
    for (const auto& [name, t] : tensors) {
      const auto* p = static_cast<const uint8_t*>(t.data_ptr());
      for (size_t i = 0; i < t.nbytes(); ++i) sink = sink ^ p[i];
    }
    (void)sink;
  } catch (const asdm::Error&) {
  }
  return 0;
}
