#pragma once
// safetensors i/o of our own (torch-free): a validating header parser, a memory-mapped reader and
// an atomic writer. Every rule of the format is checked, and a violation is an asdm::Error that
// names the file, the problem and the tensor:
//   8-byte little-endian header length N (N <= 100 MB, 8 + N <= file size); N bytes of UTF-8 JSON
//   starting with '{' (trailing spaces allowed), an object without duplicate keys whose entries are
//   {"dtype", "shape", "data_offsets": [begin, end]} plus an optional "__metadata__" string map;
//   offsets relative to the data start, begin <= end, (end - begin) == prod(shape) * dtype size,
//   and the tensors cover the data buffer exactly, without overlaps or holes.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"

namespace asdm {

// Element types of the safetensors format (its own names: "F32", "BF16", ...); the dtypes asdm
// computes in are core/dtype.h's DType.
enum class StorageDType {
  kBool,
  kU8,
  kI8,
  kF8E5M2,
  kF8E4M3,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kF64,
  kI64,
  kU64
};

std::string_view to_string(StorageDType dtype);  // safetensors spelling: "F32", "BF16", ...
size_t dtype_size(StorageDType dtype);           // bytes per element
// Throws asdm::Error naming the dtype and the known ones.
StorageDType dtype_from_string(std::string_view name);

struct TensorEntry {
  std::string name;
  StorageDType dtype = StorageDType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data buffer
  uint64_t end = 0;
  uint64_t numel() const;
};

struct SafetensorsHeader {
  std::vector<TensorEntry> tensors;  // in header order
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // 8 + header length
  uint64_t data_size = 0;
  const TensorEntry* find(std::string_view name) const;
};

inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Validates a whole file image. `source` names the file in messages.
SafetensorsHeader parse_safetensors(const uint8_t* bytes, size_t size, std::string_view source);

// Whether a file of `file_size` bytes that starts with `head` (its first min(8, size) bytes) is a
// torch.save file rather than safetensors: zip's "PK\3\4", or a pickle (0x80, protocol 2..5) whose
// bytes, read as a safetensors header length, could not be one.
bool is_torch_save(const uint8_t* head, size_t n, uint64_t file_size);
// The same for a file on disk (its first 8 bytes and its size); false when it cannot be read.
bool is_torch_save_file(const std::filesystem::path& path);

// A memory-mapped safetensors file, read-only but for the tensors writable_data hands out
// (copy-on-write: the file itself never changes).
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const SafetensorsHeader& header() const { return header_; }
  const std::filesystem::path& path() const { return path_; }
  // Pointer to the tensor's first byte (not necessarily aligned).
  const uint8_t* data(const TensorEntry& entry) const;
  // The same bytes made writable by this process only (MappedFile::make_writable: copy-on-write,
  // the file never changes), or nullptr when the system refuses.
  uint8_t* writable_data(const TensorEntry& entry);

 private:
  std::filesystem::path path_;
  MappedFile file_;
  SafetensorsHeader header_;
};

// One tensor to write; `data` must hold prod(shape) * dtype_size(dtype) bytes.
struct TensorView {
  std::string name;
  StorageDType dtype = StorageDType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
};

// Writes a safetensors file atomically (temporary file, then rename), tensors sorted by name,
// header padded with spaces to a multiple of 8 bytes.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace asdm
