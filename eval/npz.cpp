#include "eval/npz.h"

#include <algorithm>
#include <cstring>
#include <regex>

#include "core/artifact.h"
#include "core/error.h"
#include "core/zip.h"

#include <zlib.h>

namespace asdm {

int64_t NpyArray::numel() const {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;  // whatever the rest
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

namespace {

template <typename T>
T read_le(const std::string& b, size_t at) {
  T v{};
  std::memcpy(&v, b.data() + at, sizeof(T));  // x86-64 and aarch64 are little-endian
  return v;
}

template <typename T>
void put_le(std::string& b, T v) {
  b.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

}  // namespace

NpyArray parse_npy(const std::string& b, const std::string& source) {
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0)
    fail("{} is not a .npy array (no \\x93NUMPY magic)", source);
  const int major = static_cast<uint8_t>(b[6]);
  size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = read_le<uint16_t>(b, 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (b.size() < 12) fail("{}: truncated .npy header", source);
    header_len = read_le<uint32_t>(b, 8);
    start = 12;
  } else {
    fail("{}: .npy format version {} is not supported (1, 2, 3 are)", source, major);
  }
  if (start + header_len > b.size()) fail("{}: truncated .npy header", source);
  const std::string header = b.substr(start, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    fail("{}: .npy header has no 'descr': {}", source, header);
  const std::string descr = m[1];
  const bool fortran = std::regex_search(header, std::regex(R"('fortran_order'\s*:\s*True)"));
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    fail("{}: .npy header has no 'shape': {}", source, header);
  NpyArray a;
  const std::string dims = m[1];
  const std::regex number(R"(\d+)");
  int64_t n = 1;
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it) {
    const std::string digits = it->str();
    if (digits.size() > 15) fail("{}: .npy shape dimension {} is too large", source, digits);
    a.shape.push_back(std::stoll(digits));
    // The product is checked against the data below: held at 2^53 so that it cannot overflow
    // (any count that large is past the file's end; a later 0 still makes it 0).
    constexpr int64_t kCap = int64_t{1} << 53;
    const int64_t d = a.shape.back();
    n = d != 0 && n > kCap / d ? kCap : n * d;
  }
  size_t item = 0;
  if (descr == "<f8" || descr == "<i8")
    item = 8;
  else if (descr == "<f4" || descr == "<i4")
    item = 4;
  else
    fail("{}: dtype '{}' is not supported (little-endian f4, f8, i4, i8 are)", source, descr);
  a.integer = descr[1] == 'i';
  const size_t data_at = start + header_len;
  if (static_cast<uint64_t>(n) > (b.size() - data_at) / item)
    fail("{}: {} elements of {} expected but the data holds {} bytes", source, n, descr,
         b.size() - data_at);
  a.data.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const size_t at = data_at + i * item;
    if (descr == "<f8")
      a.data[i] = read_le<double>(b, at);
    else if (descr == "<f4")
      a.data[i] = read_le<float>(b, at);
    else if (descr == "<i8")
      a.data[i] = static_cast<double>(read_le<int64_t>(b, at));
    else
      a.data[i] = read_le<int32_t>(b, at);
  }
  if (fortran && a.shape.size() == 2) {
    const int64_t r = a.shape[0], c = a.shape[1];
    std::vector<double> t(n);
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) t[i * c + j] = a.data[j * r + i];
    a.data = std::move(t);
  } else if (fortran && a.shape.size() > 2) {
    fail("{}: Fortran-ordered arrays of {} dimensions are not supported", source, a.shape.size());
  }
  return a;
}

std::string encode_npy(const NpyArray& a) {
  // Python's tuple spelling: "()", "(2048,)", "(2048, 2048)".
  std::string shape = "(";
  for (size_t i = 0; i < a.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(a.shape[i]);
  shape += a.shape.size() == 1 ? ",)" : ")";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                   a.integer ? "<i8" : "<f8", shape);
  // numpy pads the header with spaces so the data starts at a multiple of 64, ending in '\n'.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string b = "\x93NUMPY";
  b += '\x01';
  b += '\x00';
  put_le<uint16_t>(b, static_cast<uint16_t>(header.size()));
  b += header;
  for (double v : a.data) {
    if (a.integer)
      put_le<int64_t>(b, static_cast<int64_t>(v));
    else
      put_le<double>(b, v);
  }
  return b;
}

std::vector<std::pair<std::string, std::string>> read_zip(const std::filesystem::path& path) {
  return parse_zip(read_text_file(path), path.string());
}

std::vector<std::pair<std::string, std::string>> parse_zip(const std::string& z,
                                                           const std::string& src) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const ZipEntry& e : zip_directory(z, src)) {
    const std::string& name = e.name;
    std::string bytes;
    if (e.method == 0) {
      bytes = z.substr(e.data_offset, e.compressed_size);
    } else if (e.method == 8) {
      if (e.size > (1ull << 31)) fail("{}: member '{}' is over 2 GiB", src, name);
      // Deflate expands at most 1032-fold: a larger claimed size is a damaged (or hostile) entry,
      // refused before its buffer is allocated.
      if (e.size > e.compressed_size * 1032 + 64)
        fail("{}: member '{}' does not inflate (the file is damaged)", src, name);
      bytes.resize(e.size);
      // Raw deflate (zip members carry no zlib header): zlib with a negative window size.
      // (stb_image's inflater refuses some valid streams numpy's zlib writes.)
      z_stream s{};
      if (inflateInit2(&s, -MAX_WBITS) != Z_OK) fail("{}: zlib cannot start", src);
      s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(z.data() + e.data_offset));
      s.avail_in = static_cast<uInt>(e.compressed_size);
      s.next_out = reinterpret_cast<Bytef*>(bytes.data());
      s.avail_out = static_cast<uInt>(e.size);
      const int rc = inflate(&s, Z_FINISH);
      const uint64_t produced = s.total_out;
      inflateEnd(&s);
      if (rc != Z_STREAM_END || produced != e.size)
        fail("{}: member '{}' does not inflate (the file is damaged)", src, name);
    } else {
      fail("{}: member '{}' uses zip method {} (stored and deflate are read)", src, name, e.method);
    }
    if (crc32(bytes.data(), bytes.size()) != e.crc)
      fail("{}: member '{}' fails its CRC-32 check (the file is damaged)", src, name);
    out.emplace_back(name, std::move(bytes));
  }
  return out;
}

std::map<std::string, NpyArray> read_npz(const std::filesystem::path& path) {
  std::map<std::string, NpyArray> out;
  for (const auto& [name, bytes] : read_zip(path)) {
    std::string key = name;
    if (key.size() > 4 && key.compare(key.size() - 4, 4, ".npy") == 0) key.resize(key.size() - 4);
    out.emplace(key, parse_npy(bytes, path.string() + ":" + name));
  }
  return out;
}

void write_npz(const std::filesystem::path& path, const std::map<std::string, NpyArray>& arrays) {
  std::string z, dir;
  uint16_t count = 0;
  for (const auto& [key, array] : arrays) {
    const std::string name = key + ".npy";
    const std::string data = encode_npy(array);
    if (data.size() >= 0xFFFFFFFFu || z.size() >= 0xFFFFFFFFu)
      fail("{}: array '{}' is too large for asdm's zip writer (4 GiB)", path.string(), key);
    const uint32_t crc = crc32(data.data(), data.size()), size = data.size(), offset = z.size();
    auto common = [&](std::string& b) {
      put_le<uint16_t>(b, 20);    // version needed
      put_le<uint16_t>(b, 0);     // flags
      put_le<uint16_t>(b, 0);     // stored
      put_le<uint16_t>(b, 0);     // time
      put_le<uint16_t>(b, 0x21);  // date: 1980-01-01
      put_le<uint32_t>(b, crc);
      put_le<uint32_t>(b, size);
      put_le<uint32_t>(b, size);
      put_le<uint16_t>(b, static_cast<uint16_t>(name.size()));
      put_le<uint16_t>(b, 0);  // extra
    };
    z += "PK\x03\x04";
    common(z);
    z += name;
    z += data;
    dir += "PK\x01\x02";
    put_le<uint16_t>(dir, 20);  // version made by
    common(dir);
    put_le<uint16_t>(dir, 0);  // comment
    put_le<uint16_t>(dir, 0);  // disk
    put_le<uint16_t>(dir, 0);  // internal attributes
    put_le<uint32_t>(dir, 0);  // external attributes
    put_le<uint32_t>(dir, offset);
    dir += name;
    ++count;
  }
  const uint32_t cd_at = z.size(), cd_size = dir.size();
  z += dir;
  z += "PK\x05\x06";
  put_le<uint16_t>(z, 0);
  put_le<uint16_t>(z, 0);
  put_le<uint16_t>(z, count);
  put_le<uint16_t>(z, count);
  put_le<uint32_t>(z, cd_size);
  put_le<uint32_t>(z, cd_at);
  put_le<uint16_t>(z, 0);
  write_file_atomic(path, z);
}

}  // namespace asdm
