#pragma once
// A whole file mapped read-only into memory: what the weights readers (model/safetensors.h,
// model/torch_save.h) parse in place, so that a many-GiB checkpoint costs the pages read.
//
// A file that shrinks while it is mapped (another program truncates it, or rewrites it in place as
// torch.save does) leaves pages past its new end that raise SIGBUS when touched. The first
// MappedFile installs a SIGBUS handler for the process: a fault inside a live mapping prints one
// line on stderr naming the file, where it was read and its size now, and exits with status 1;
// any other SIGBUS goes to the handler installed before it (or the default action).
#include <cstddef>
#include <filesystem>
#include <string_view>

namespace asdm {

class MappedFile {
 public:
  // Throws asdm::Error naming the file when it cannot be opened, is not a regular file or cannot be
  // mapped. An empty file maps to no bytes.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view bytes() const { return {static_cast<const char*>(map_), size_}; }
  const unsigned char* data() const { return static_cast<const unsigned char*>(map_); }
  size_t size() const { return size_; }
  // Makes bytes [offset, offset + length) writable by this process only: the mapping is private,
  // so a write copies the page it touches and never reaches the file (how tensors that alias a
  // checkpoint's bytes stay safe to train). Returns the first byte, or nullptr when the system
  // refuses (its commit limit) or the range is outside the file; the bytes then stay read-only.
  unsigned char* make_writable(size_t offset, size_t length);

 private:
  void* map_ = nullptr;
  size_t size_ = 0;
  int watch_slot_ = -1;  // this mapping's slot in the SIGBUS handler's table, or -1
};

}  // namespace asdm
