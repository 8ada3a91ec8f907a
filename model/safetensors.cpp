#include "model/safetensors.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <set>

#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/error.h"

namespace asdm {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<StorageDType, std::string_view>, 15> kDTypeNames{{
    {StorageDType::kBool, "BOOL"},
    {StorageDType::kU8, "U8"},
    {StorageDType::kI8, "I8"},
    {StorageDType::kF8E5M2, "F8_E5M2"},
    {StorageDType::kF8E4M3, "F8_E4M3"},
    {StorageDType::kI16, "I16"},
    {StorageDType::kU16, "U16"},
    {StorageDType::kF16, "F16"},
    {StorageDType::kBF16, "BF16"},
    {StorageDType::kI32, "I32"},
    {StorageDType::kU32, "U32"},
    {StorageDType::kF32, "F32"},
    {StorageDType::kF64, "F64"},
    {StorageDType::kI64, "I64"},
    {StorageDType::kU64, "U64"},
}};

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Parses the header JSON, rejecting duplicate top-level keys (nlohmann keeps the last silently).
json parse_header_json(std::string_view text, std::string_view source) {
  std::set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text.begin(), text.end(), cb);
  } catch (const json::exception& e) {
    fail("{}: the safetensors header is not valid JSON (at byte {} of the header)", source,
         e.id == 101 ? static_cast<const json::parse_error&>(e).byte : 0);
  }
  if (!duplicate.empty())
    fail("{}: the safetensors header names tensor '{}' twice", source, duplicate);
  return j;
}

}  // namespace

std::string_view to_string(StorageDType dtype) {
  for (const auto& [d, n] : kDTypeNames)
    if (d == dtype) return n;
  return "?";
}

size_t dtype_size(StorageDType d) {
  switch (d) {
    case StorageDType::kBool:
    case StorageDType::kU8:
    case StorageDType::kI8:
    case StorageDType::kF8E5M2:
    case StorageDType::kF8E4M3:
      return 1;
    case StorageDType::kI16:
    case StorageDType::kU16:
    case StorageDType::kF16:
    case StorageDType::kBF16:
      return 2;
    case StorageDType::kI32:
    case StorageDType::kU32:
    case StorageDType::kF32:
      return 4;
    case StorageDType::kF64:
    case StorageDType::kI64:
    case StorageDType::kU64:
      return 8;
  }
  return 0;
}

StorageDType dtype_from_string(std::string_view name) {
  std::vector<std::string> known;
  for (const auto& [d, n] : kDTypeNames) {
    if (n == name) return d;
    known.emplace_back(n);
  }
  fail("unknown dtype '{}' (known: {})", name, join_limited(known, 20));
}

uint64_t TensorEntry::numel() const {
  uint64_t n = 1;
  for (int64_t s : shape) n *= static_cast<uint64_t>(s);
  return n;
}

const TensorEntry* SafetensorsHeader::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

SafetensorsHeader parse_safetensors(const uint8_t* bytes, size_t size, std::string_view source) {
  if (size < 8)
    fail("{}: truncated safetensors file ({} bytes; it must start with an 8-byte header length)",
         source, size);
  const uint64_t n = read_u64_le(bytes);
  // torch.save's zip (PyTorch >= 1.6) or its legacy pickle, read as a header length, is out of
  // bounds: a .ckpt/.pt/.bin renamed or mistaken for safetensors.
  const bool torch_save = (bytes[0] == 'P' && bytes[1] == 'K' && bytes[2] == 3 && bytes[3] == 4) ||
                          (bytes[0] == 0x80 && bytes[1] >= 2 && bytes[1] <= 5);
  if (torch_save && (n > kMaxSafetensorsHeaderBytes || n > size - 8))
    fail(
        "{}: this is a torch.save (pickle) file; this input must be safetensors (convert it in "
        "Python: safetensors.torch.save_file(torch.load(path), new_path))",
        source);
  if (n > kMaxSafetensorsHeaderBytes)
    fail("{}: safetensors header length {} exceeds the limit of {} bytes", source, n,
         kMaxSafetensorsHeaderBytes);
  if (n > size - 8)
    fail(
        "{}: safetensors header length {} goes beyond the end of the file ({} bytes after the "
        "length)",
        source, n, size - 8);
  if (n < 2) fail("{}: safetensors header of {} bytes is too short to be a JSON object", source, n);
  const std::string_view text(reinterpret_cast<const char*>(bytes + 8), n);
  if (text[0] != '{') fail("{}: the safetensors header must start with '{{'", source);
  const json j = parse_header_json(text, source);
  if (!j.is_object()) fail("{}: the safetensors header must be a JSON object", source);

  SafetensorsHeader h;
  h.data_offset = 8 + n;
  h.data_size = size - h.data_offset;
  for (const auto& [name, e] : j.items()) {
    if (name == "__metadata__") {
      if (!e.is_object()) fail("{}: '__metadata__' must be an object of strings", source);
      for (const auto& [k, v] : e.items()) {
        if (!v.is_string())
          fail("{}: '__metadata__' entry '{}' must be a string, got {}", source, k, v.dump());
        h.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    if (!e.is_object()) fail("{}: tensor '{}' must be described by an object", source, name);
    TensorEntry t;
    t.name = name;
    if (!e.contains("dtype") || !e["dtype"].is_string())
      fail("{}: tensor '{}' has no 'dtype' string", source, name);
    try {
      t.dtype = dtype_from_string(e["dtype"].get<std::string>());
    } catch (const Error& err) {
      fail("{}: tensor '{}': {}", source, name, err.what());
    }
    if (!e.contains("shape") || !e["shape"].is_array())
      fail("{}: tensor '{}' has no 'shape' list", source, name);
    uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned())
        fail("{}: tensor '{}' has a shape entry {} that is not a non-negative integer", source,
             name, d.dump());
      const uint64_t v = d.get<uint64_t>();
      if (v > static_cast<uint64_t>(INT64_MAX)) overflow = true;
      t.shape.push_back(static_cast<int64_t>(v));
      if (v != 0 && numel > UINT64_MAX / v) overflow = true;
      numel *= v;
    }
    const auto& off = e.contains("data_offsets") ? e["data_offsets"] : json();
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned())
      fail("{}: tensor '{}' needs 'data_offsets' as two non-negative integers", source, name);
    t.begin = off[0].get<uint64_t>();
    t.end = off[1].get<uint64_t>();
    if (t.begin > t.end)
      fail("{}: tensor '{}' has data_offsets [{}, {}] with begin after end", source, name, t.begin,
           t.end);
    if (t.end > h.data_size)
      fail("{}: tensor '{}' has data_offsets [{}, {}] outside the data ({} bytes)", source, name,
           t.begin, t.end, h.data_size);
    const uint64_t esize = dtype_size(t.dtype);
    if (overflow || (numel != 0 && esize > UINT64_MAX / numel) || numel * esize != t.end - t.begin)
      fail("{}: tensor '{}' has shape {} x {} ({} bytes) but data_offsets span {} bytes", source,
           name, e["shape"].dump(), to_string(t.dtype),
           overflow ? std::string("overflowing") : std::to_string(numel * esize), t.end - t.begin);
    h.tensors.push_back(std::move(t));
  }

  // The tensors must tile the data buffer: no overlap, no hole, nothing after the last one.
  std::vector<const TensorEntry*> by_offset;
  for (const auto& t : h.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  const TensorEntry* prev = nullptr;
  for (const auto* t : by_offset) {
    if (t->begin < pos)
      fail("{}: tensors '{}' and '{}' overlap (bytes {}..{} and {}..{})", source, prev->name,
           t->name, prev->begin, prev->end, t->begin, t->end);
    if (t->begin > pos)
      fail("{}: data bytes {}..{} belong to no tensor (a hole before tensor '{}')", source, pos,
           t->begin, t->name);
    pos = t->end;
    prev = t;
  }
  if (pos != h.data_size)
    fail("{}: data bytes {}..{} after the last tensor belong to no tensor", source, pos,
         h.data_size);
  return h;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path), file_(path) {
  header_ = parse_safetensors(file_.data(), file_.size(), path.string());
}

SafetensorsFile::~SafetensorsFile() = default;

const uint8_t* SafetensorsFile::data(const TensorEntry& e) const {
  return file_.data() + header_.data_offset + e.begin;
}

bool is_torch_save(const uint8_t* head, size_t n, uint64_t file_size) {
  if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return true;
  if (n < 2 || head[0] != 0x80 || head[1] < 2 || head[1] > 5) return false;
  if (n < 8) return true;  // too short for safetensors anyway
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= static_cast<uint64_t>(head[i]) << (8 * i);
  return length > kMaxSafetensorsHeaderBytes || length > file_size - 8;
}

bool is_torch_save_file(const std::filesystem::path& path) {
  uint8_t head[8] = {};
  size_t n = 0;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    n = std::fread(head, 1, sizeof head, f);
    std::fclose(f);
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return !ec && is_torch_save(head, n, size);
}

uint8_t* SafetensorsFile::writable_data(const TensorEntry& e) {
  return file_.make_writable(header_.data_offset + e.begin, e.end - e.begin);
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorView*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t pos = 0;
  std::set<std::string> names;
  for (const auto* t : sorted) {
    if (t->name == "__metadata__" || !names.insert(t->name).second)
      fail("cannot write '{}': tensor name '{}' is reserved or repeated", path.string(), t->name);
    uint64_t numel = 1;
    for (int64_t s : t->shape) numel *= static_cast<uint64_t>(s);
    const uint64_t bytes = numel * dtype_size(t->dtype);
    h[t->name] = {
        {"dtype", to_string(t->dtype)}, {"shape", t->shape}, {"data_offsets", {pos, pos + bytes}}};
    pos += bytes;
  }
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  write_stream_atomic(path, [&](std::ostream& out) {
    uint8_t len[8];
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto* t : sorted) {
      uint64_t numel = 1;
      for (int64_t s : t->shape) numel *= static_cast<uint64_t>(s);
      out.write(static_cast<const char*>(t->data),
                static_cast<std::streamsize>(numel * dtype_size(t->dtype)));
    }
  });
}

}  // namespace asdm
