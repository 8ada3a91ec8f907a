#pragma once
// The directory of a zip archive (torch-free, zlib-free): what .npz files (eval/npz.h) and
// torch.save files (model/torch_save.h) are. Only the directory is read, so a caller can map a
// many-GiB archive and touch just the members it needs. ZIP64 (numpy's force_zip64, torch.save's
// files over 4 GiB) included.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace asdm {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint32_t crc = 0;     // CRC-32 of the uncompressed bytes
  uint64_t compressed_size = 0;
  uint64_t size = 0;         // uncompressed
  uint64_t data_offset = 0;  // of the member's (compressed) bytes in the archive
};

// The entries in directory order. Every entry's local header and bytes are checked to lie inside
// the archive; `source` names it in messages. Throws asdm::Error.
std::vector<ZipEntry> zip_directory(std::string_view archive, const std::string& source);

// CRC-32 (zip's, zlib's), continued from `crc`.
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace asdm
