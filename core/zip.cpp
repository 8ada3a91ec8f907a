#include "core/zip.h"

#include <array>
#include <cstring>

#include "core/error.h"

namespace asdm {

uint32_t crc32(const void* data, size_t size, uint32_t crc) {
  // Slicing by 8: eight tables, eight bytes a step (a 4 GiB checkpoint's storages are checked as
  // they are read).
  static const auto tables = [] {
    std::array<std::array<uint32_t, 256>, 8> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    return t;
  }();
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (; size >= 8; size -= 8, p += 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);  // little-endian hosts (x86-64, aarch64)
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;
    crc = tables[7][lo & 0xFF] ^ tables[6][(lo >> 8) & 0xFF] ^ tables[5][(lo >> 16) & 0xFF] ^
          tables[4][lo >> 24] ^ tables[3][hi & 0xFF] ^ tables[2][(hi >> 8) & 0xFF] ^
          tables[1][(hi >> 16) & 0xFF] ^ tables[0][hi >> 24];
  }
  for (; size > 0; --size) crc = tables[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

namespace {

template <typename T>
T read_le(std::string_view b, uint64_t at) {
  T v{};
  std::memcpy(&v, b.data() + at, sizeof(T));  // x86-64 and aarch64 are little-endian
  return v;
}

// True when the `n` bytes at `at` lie inside a buffer of `size` bytes (no overflow on any input).
bool inside(uint64_t at, uint64_t n, size_t size) { return at <= size && n <= size - at; }

}  // namespace

std::vector<ZipEntry> zip_directory(std::string_view z, const std::string& src) {
  // The end-of-central-directory record: the last "PK\5\6" within the final 64 KiB + 22 bytes.
  size_t eocd = std::string_view::npos;
  for (size_t i = z.size() >= 22 ? z.size() - 22 : 0;; --i) {
    if (z.substr(i, 4) == std::string_view("PK\x05\x06", 4)) {
      eocd = i;
      break;
    }
    if (i == 0 || z.size() - i > 65557) break;
  }
  if (z.size() < 22 || eocd == std::string_view::npos)
    fail("{} is not a zip archive (no zip directory)", src);
  uint64_t entries = read_le<uint16_t>(z, eocd + 10);
  uint64_t cd = read_le<uint32_t>(z, eocd + 16);
  if (cd == 0xFFFFFFFFu || entries == 0xFFFF) {  // ZIP64 end record via its locator
    if (eocd < 20 || z.substr(eocd - 20, 4) != std::string_view("PK\x06\x07", 4))
      fail("{}: ZIP64 directory locator missing", src);
    const uint64_t rec = read_le<uint64_t>(z, eocd - 20 + 8);
    if (!inside(rec, 56, z.size()) || z.substr(rec, 4) != std::string_view("PK\x06\x06", 4))
      fail("{}: ZIP64 directory record missing", src);
    entries = read_le<uint64_t>(z, rec + 32);
    cd = read_le<uint64_t>(z, rec + 48);
  }
  std::vector<ZipEntry> out;
  uint64_t at = cd;
  for (uint64_t e = 0; e < entries; ++e) {
    if (!inside(at, 46, z.size()) || z.substr(at, 4) != std::string_view("PK\x01\x02", 4))
      fail("{}: zip directory entry {} is damaged", src, e);
    ZipEntry entry;
    entry.method = read_le<uint16_t>(z, at + 10);
    entry.crc = read_le<uint32_t>(z, at + 16);
    uint64_t csize = read_le<uint32_t>(z, at + 20), usize = read_le<uint32_t>(z, at + 24);
    const uint16_t name_len = read_le<uint16_t>(z, at + 28),
                   extra_len = read_le<uint16_t>(z, at + 30),
                   comment_len = read_le<uint16_t>(z, at + 32);
    uint64_t local = read_le<uint32_t>(z, at + 42);
    if (!inside(at + 46, uint64_t{name_len} + extra_len + comment_len, z.size()))
      fail("{}: zip directory entry {} is damaged", src, e);
    entry.name = std::string(z.substr(at + 46, name_len));
    const std::string& name = entry.name;
    const uint64_t extra_end = at + 46 + name_len + extra_len;
    for (uint64_t x = at + 46 + name_len; x + 4 <= extra_end;) {
      const uint16_t id = read_le<uint16_t>(z, x), len = read_le<uint16_t>(z, x + 2);
      if (x + 4 + len > extra_end) fail("{}: member '{}' has a damaged extra field", src, name);
      if (id == 1) {  // ZIP64: the fields whose 32-bit value is 0xFFFFFFFF, in this order
        uint64_t f = x + 4;
        auto field = [&](uint64_t& v) {
          if (v != 0xFFFFFFFFu) return;
          if (f + 8 > x + 4 + len) fail("{}: member '{}' has a short ZIP64 field", src, name);
          v = read_le<uint64_t>(z, f);
          f += 8;
        };
        field(usize);
        field(csize);
        field(local);
      }
      x += 4 + len;
    }
    at += 46 + name_len + extra_len + comment_len;
    if (!inside(local, 30, z.size()) || z.substr(local, 4) != std::string_view("PK\x03\x04", 4))
      fail("{}: member '{}' has no local header", src, name);
    entry.data_offset =
        local + 30 + read_le<uint16_t>(z, local + 26) + read_le<uint16_t>(z, local + 28);
    if (!inside(entry.data_offset, csize, z.size()))
      fail("{}: member '{}' is truncated", src, name);
    entry.compressed_size = csize;
    entry.size = usize;
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace asdm
