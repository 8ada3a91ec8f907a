#pragma once
// torch.save files made by hand for tests, byte for byte as torch.save writes them: pickle
// protocol 2 pieces, the zip container (archive/data.pkl, archive/data/<key>, archive/byteorder,
// stored), and a whole state dict of tensors, bare or inside a training checkpoint (the original
// Stable Diffusion releases' .ckpt). The reader is checked against files torch itself writes in
// tests/reference; these make the cases torch will not write (hostile ones) and checkpoints
// without Python.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "core/error.h"
#include "core/zip.h"

namespace asdm::test::pkl {

inline std::string u32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
inline std::string str(const std::string& s) { return "X" + u32(s.size()) + s; }
inline std::string num(int64_t v) {
  const auto i = static_cast<int32_t>(v);
  if (i == v) return "J" + u32(static_cast<uint32_t>(i));
  std::string b = "\x8a\x08";  // LONG1, 8 bytes
  return b + std::string(reinterpret_cast<const char*>(&v), 8);
}
inline std::string ints(const std::vector<int64_t>& xs) {
  std::string b = "(";
  for (auto x : xs) b += num(x);
  return b + "t";
}
inline std::string global(const std::string& module, const std::string& name) {
  return "c" + module + "\n" + name + "\n";
}
// A tensor over storage `key` (of class `storage_class`, `numel` elements).
inline std::string tensor(const std::string& key, int64_t numel, int64_t offset,
                          const std::vector<int64_t>& size, const std::vector<int64_t>& stride,
                          const std::string& storage_class = "FloatStorage") {
  const std::string storage = "(" + str("storage") + global("torch", storage_class) + str(key) +
                              str("cpu") + num(numel) + "tQ";
  return global("torch._utils", "_rebuild_tensor_v2") + "(" + storage + num(offset) + ints(size) +
         ints(stride) + "tR";
}
inline std::string dict(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string b = "}(";
  for (const auto& [k, v] : items) b += k + v;
  return b + "u";
}
inline std::string pickle(const std::string& body) { return "\x80\x02" + body + "."; }

// A torch.save zip: archive/data.pkl and archive/data/<key> per storage (its bytes), stored, each
// member's bytes at a multiple of 64 in the file.
inline std::string torch_zip_bytes(
    const std::string& pickle, const std::vector<std::pair<std::string, std::string>>& storages) {
  std::vector<std::pair<std::string, std::string>> members = {{"archive/data.pkl", pickle}};
  for (const auto& [key, data] : storages) members.emplace_back("archive/data/" + key, data);
  members.emplace_back("archive/byteorder", "little");
  auto le = [](std::string& b, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b.push_back(static_cast<char>(v >> (8 * i)));
  };
  std::string z, dir;
  for (const auto& [name, data] : members) {
    const uint32_t crc = crc32(data.data(), data.size());
    const size_t at = z.size();
    // As torch's writer: an extra field ("FB") in the local header pads each member's bytes to a
    // multiple of 64 in the file.
    size_t pad = (64 - (at + 30 + name.size()) % 64) % 64;
    if (pad != 0 && pad < 4) pad += 64;
    std::string extra;
    if (pad != 0) {
      extra = "FB";
      le(extra, pad - 4, 2);
      extra.append(pad - 4, 'Z');
    }
    for (std::string* b : {&z, &dir}) {
      *b += b == &z ? "PK\x03\x04" : "PK\x01\x02";
      if (b == &dir) le(*b, 20, 2);
      le(*b, 20, 2), le(*b, 0, 2), le(*b, 0, 2), le(*b, 0, 4), le(*b, crc, 4);
      le(*b, data.size(), 4), le(*b, data.size(), 4), le(*b, name.size(), 2);
      le(*b, b == &z ? extra.size() : 0, 2);
      if (b == &dir) le(*b, 0, 2), le(*b, 0, 2), le(*b, 0, 2), le(*b, 0, 4), le(*b, at, 4);
      *b += name;
    }
    z += extra + data;
  }
  const size_t cd = z.size();
  z += dir + "PK\x05\x06";
  le(z, 0, 4), le(z, members.size(), 2), le(z, members.size(), 2), le(z, dir.size(), 4);
  le(z, cd, 4), le(z, 0, 2);
  return z;
}
// The same with float32 storages.
inline std::string torch_zip(
    const std::string& pickle,
    const std::vector<std::pair<std::string, std::vector<float>>>& floats) {
  std::vector<std::pair<std::string, std::string>> storages;
  for (const auto& [key, data] : floats)
    storages.emplace_back(
        key, std::string(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float)));
  return torch_zip_bytes(pickle, storages);
}

// torch.save(state_dict) of `tensors` in their order, each in a storage of its own (float32,
// float16 or bfloat16); `wrapped`: torch.save({"state_dict": state_dict, "global_step": 1}), as
// the original Stable Diffusion .ckpt files hold it.
inline std::string state_dict_zip(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                  bool wrapped = false) {
  std::vector<std::pair<std::string, std::string>> items, storages;
  for (const auto& [name, t] : tensors) {
    const at::Tensor c = t.detach().contiguous().cpu();
    const std::string cls = c.scalar_type() == torch::kFloat32    ? "FloatStorage"
                            : c.scalar_type() == torch::kFloat16  ? "HalfStorage"
                            : c.scalar_type() == torch::kBFloat16 ? "BFloat16Storage"
                                                                  : "";
    if (cls.empty()) fail("state_dict_zip: tensor '{}' is not float32, float16 or bfloat16", name);
    const std::string key = std::to_string(storages.size());
    items.emplace_back(str(name),
                       tensor(key, c.numel(), 0, c.sizes().vec(), c.strides().vec(), cls));
    storages.emplace_back(key, std::string(static_cast<const char*>(c.data_ptr()), c.nbytes()));
  }
  std::string root = dict(items);
  if (wrapped) root = dict({{str("state_dict"), root}, {str("global_step"), num(1)}});
  return torch_zip_bytes(pickle(root), storages);
}

}  // namespace asdm::test::pkl
