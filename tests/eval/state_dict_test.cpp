// torch.save reading on hand-made pickles: the legacy format's five pickles and storages, and the
// hostile cases scripts/fuzz.sh found (fuzz/state_dict_fuzz.cpp) or that follow from them. Real
// torch.save files (zip and legacy, made by torch) are read in tests/reference.
#include "eval/state_dict.h"

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "tests/test_env.h"

namespace asdm {
namespace {

// Pickle protocol 2 pieces, as torch.save writes them.
std::string u32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::string str(const std::string& s) { return "X" + u32(s.size()) + s; }
std::string num(int64_t v) {
  const auto i = static_cast<int32_t>(v);
  if (i == v) return "J" + u32(static_cast<uint32_t>(i));
  std::string b = "\x8a\x08";  // LONG1, 8 bytes
  return b + std::string(reinterpret_cast<const char*>(&v), 8);
}
std::string tuple(const std::vector<int64_t>& xs) {
  std::string b = "(";
  for (auto x : xs) b += num(x);
  return b + "t";
}
std::string pickle(const std::string& body) { return "\x80\x02" + body + "."; }

// A tensor over float storage "0" of `numel` elements.
std::string tensor(int64_t numel, int64_t offset, const std::vector<int64_t>& size,
                   const std::vector<int64_t>& stride) {
  const std::string storage =
      "(" + str("storage") + "ctorch\nFloatStorage\n" + str("0") + str("cpu") + num(numel) + "tQ";
  return "ctorch._utils\n_rebuild_tensor_v2\n(" + storage + num(offset) + tuple(size) +
         tuple(stride) + "tR";
}

// The legacy format: magic, protocol, system info, the object, the storage keys, then storage "0"
// as an int64 count and its bytes (none listed when `storage` is empty).
std::string legacy(const std::string& object, const std::vector<float>& storage) {
  const std::string magic = "\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
  std::string b = pickle(magic) + pickle(num(1001)) + pickle("}") + pickle(object) +
                  pickle(storage.empty() ? "]" : "]" + str("0") + "a");
  if (storage.empty()) return b;  // no storage listed
  const int64_t count = storage.size();
  b += std::string(reinterpret_cast<const char*>(&count), 8);
  b += std::string(reinterpret_cast<const char*>(storage.data()), storage.size() * 4);
  return b;
}

std::string dict_of(const std::string& value) { return "}" + str("w") + value + "s"; }

TEST(StateDict, LegacyPicklesGiveStridedTensors) {
  const auto t = parse_torch_save(legacy(dict_of(tensor(4, 1, {2}, {2})), {1, 2, 3, 4}), "x.pt");
  ASSERT_EQ(t.count("w"), 1u);
  EXPECT_TRUE(torch::equal(t.at("w"), torch::tensor({2.0f, 4.0f})));
}

TEST(StateDict, HostileTensorsAreNamedErrors) {
  auto error = [](const std::string& object, std::vector<float> storage = {1, 2, 3, 4}) {
    return test::error_of([&] { parse_torch_save(legacy(object, storage), "x.pt"); });
  };
  // Found by the fuzzer: sizes and strides of different lengths were read past the strides' end.
  EXPECT_EQ(error(dict_of(tensor(4, 0, {2, 2}, {1}))), "x.pt: a tensor has 2 sizes but 1 strides");
  EXPECT_EQ(error(dict_of(tensor(4, 0, {2}, {-1}))),
            "x.pt: a tensor has a negative size, stride or storage offset");
  EXPECT_EQ(error(dict_of(tensor(4, -1, {2}, {1}))),
            "x.pt: a tensor has a negative size, stride or storage offset");
  // (2^62 - 1) * 4 overflows int64: it must not wrap around into the storage.
  EXPECT_EQ(error(dict_of(tensor(4, 0, {int64_t{1} << 62}, {4}))),
            "x.pt: a tensor reaches past its storage");
  EXPECT_EQ(error(dict_of(tensor(4, 3, {2}, {1}))), "x.pt: a tensor reaches past its storage");
  EXPECT_EQ(error(dict_of(tensor(4, 5, {}, {}))), "x.pt: a tensor reaches past its storage");
  EXPECT_EQ(error(dict_of(tensor(4, 9, {0}, {1}))), "x.pt: a tensor starts past its storage");
  // A storage bigger than the whole file is refused before it is allocated.
  EXPECT_EQ(error(dict_of(tensor(int64_t{1} << 40, 0, {1}, {1}))),
            "'x.pt': storage 0 is truncated or of the wrong size");
  EXPECT_EQ(error(dict_of(tensor(-4, 0, {1}, {1}))), "x.pt: storage 0 has a negative size");
}

TEST(StateDict, ADictHoldingItselfEnds) {
  // d = {}; d["state_dict"] = d: the wrapper unwrapping stops, and finds no tensors.
  using namespace std::string_literals;  // the memo index 0 is a NUL byte
  const std::string self = "}q\0"s + str("state_dict") + "h\0s"s;
  const std::string wrapped = "}" + str("state_dict") + dict_of(tensor(4, 0, {4}, {1})) + "s";
  EXPECT_EQ(test::error_of([&] { parse_torch_save(legacy(self, {}), "x.pt"); }),
            "'x.pt' holds no tensors");
  EXPECT_EQ(parse_torch_save(legacy(wrapped, {1, 2, 3, 4}), "x.pt").at("w").numel(), 4);
}

TEST(StateDict, OtherBytesAreNotATorchSaveFile) {
  EXPECT_EQ(test::error_of([] { parse_torch_save("hello", "x.pt"); }),
            "'x.pt' is not a torch.save file (neither its zip nor its legacy format)");
  EXPECT_EQ(test::error_of([] { parse_torch_save("\x80\x02K\x01.", "x.pt"); }),
            "'x.pt' is neither safetensors nor a torch.save file");
}

}  // namespace
}  // namespace asdm
