#include "core/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>

#include "core/error.h"

namespace asdm {
namespace {

// The mappings the SIGBUS handler can name. A page of a mapped file that lies past the file's end
// (another program truncated the file, or is rewriting it in place, as torch.save does) raises
// SIGBUS on first touch, and so does an I/O error under it; without a handler that is a crash
// with no word of which file. The handler may not allocate or lock, so the table is fixed and each
// slot is published by its state: kFree, kFilling while its owner writes it, kLive.
enum SlotState : int { kFree = 0, kFilling = 1, kLive = 2 };
struct Watched {
  std::atomic<int> state{kFree};
  uintptr_t begin = 0, end = 0;
  char path[1024] = {};
};
constexpr int kWatchedSlots = 256;  // beyond that, a mapping is unwatched: the plain crash
Watched g_watched[kWatchedSlots];
struct sigaction g_previous_sigbus {};

// Async-signal-safe text building: no allocation, no locale.
struct Line {
  char text[1600];
  size_t n = 0;
  void add(const char* s) {
    while (*s && n + 1 < sizeof(text)) text[n++] = *s++;
  }
  void add(uint64_t v) {
    char digits[24];
    int k = 0;
    do digits[k++] = static_cast<char>('0' + v % 10);
    while ((v /= 10) != 0 && k < 24);
    while (k > 0 && n + 1 < sizeof(text)) text[n++] = digits[--k];
  }
};

[[noreturn]] void report_lost_file(const Watched& w, uintptr_t address) {
  Line line;
  line.add("asdm: error: '");
  line.add(w.path);
  line.add("' could not be read at byte ");
  line.add(static_cast<uint64_t>(address - w.begin));
  line.add(": ");
  const auto was = static_cast<uint64_t>(w.end - w.begin);
  struct stat st {};
  if (::stat(w.path, &st) == 0 && static_cast<uint64_t>(st.st_size) < was) {
    line.add("it was ");
    line.add(was);
    line.add(" bytes when asdm opened it and is now ");
    line.add(static_cast<uint64_t>(st.st_size));
    line.add(
        " (another program truncated it or is rewriting it in place; asdm's own writers replace "
        "a file by rename). Run again once the file is complete\n");
  } else {
    line.add("an I/O error on its storage, or the file changed while asdm read it\n");
  }
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line.text, line.n);
  ::_exit(1);
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (const Watched& w : g_watched)
    if (w.state.load(std::memory_order_acquire) == kLive && address >= w.begin && address < w.end)
      report_lost_file(w, address);
  // Not a mapped file of ours: whatever handled SIGBUS before us does.
  if ((g_previous_sigbus.sa_flags & SA_SIGINFO) != 0) {
    if (g_previous_sigbus.sa_sigaction != nullptr)
      return g_previous_sigbus.sa_sigaction(sig, info, context);
  } else if (g_previous_sigbus.sa_handler != SIG_DFL && g_previous_sigbus.sa_handler != SIG_IGN) {
    return g_previous_sigbus.sa_handler(sig);
  }
  struct sigaction plain {};
  plain.sa_handler = SIG_DFL;
  ::sigaction(SIGBUS, &plain, nullptr);
  // A fault repeats when the access is retried, now with the default action; a sent signal does
  // not.
  if (info->si_code <= 0) ::raise(sig);
}

void watch_sigbus() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &g_previous_sigbus);
  });
}

// The slot watching [map, map + size), or -1 when the table is full.
int watch(const void* map, size_t size, const std::string& path) {
  watch_sigbus();
  for (int i = 0; i < kWatchedSlots; ++i) {
    int expected = kFree;
    if (!g_watched[i].state.compare_exchange_strong(expected, kFilling)) continue;
    Watched& w = g_watched[i];
    w.begin = reinterpret_cast<uintptr_t>(map);
    w.end = w.begin + size;
    const size_t n = std::min(path.size(), sizeof(w.path) - 1);
    std::memcpy(w.path, path.data(), n);
    w.path[n] = '\0';
    w.state.store(kLive, std::memory_order_release);
    return i;
  }
  return -1;
}

}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path) {
  const std::string p = path.string();
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open '{}': {}", p, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("'{}' is not a regular file", p);
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      fail("cannot map '{}' into memory: {}", p, std::strerror(err));
    }
    map_ = m;
    size_ = size;
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(path, ec);
    watch_slot_ = watch(m, size, ec ? p : absolute.string());
  }
  ::close(fd);
}

unsigned char* MappedFile::make_writable(size_t offset, size_t length) {
  if (offset > size_ || length > size_ - offset) return nullptr;
  auto* first = static_cast<unsigned char*>(map_) + offset;
  if (length == 0) return first;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(first) & ~(page - 1);
  const auto end = reinterpret_cast<uintptr_t>(first) + length;
  if (::mprotect(reinterpret_cast<void*>(begin), end - begin, PROT_READ | PROT_WRITE) != 0)
    return nullptr;
  return first;
}

MappedFile::~MappedFile() {
  if (watch_slot_ >= 0) g_watched[watch_slot_].state.store(kFree, std::memory_order_release);
  if (map_) ::munmap(map_, size_);
}

}  // namespace asdm
