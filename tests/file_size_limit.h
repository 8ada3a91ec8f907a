#pragma once
// A file size limit on the calling process (RLIMIT_FSIZE) with SIGXFSZ ignored, so that a write
// past it fails (EFBIG) as a write to a full disk does (ENOSPC): how tests reach the writers' error
// paths without a full disk. Both are restored when it goes out of scope.
#include <signal.h>
#include <sys/resource.h>

namespace asdm::test {

class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &previous_limit_);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGXFSZ, &ignore, &previous_action_);
    rlimit limit = previous_limit_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &previous_limit_);
    ::sigaction(SIGXFSZ, &previous_action_, nullptr);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit previous_limit_{};
  struct sigaction previous_action_ {};
};

}  // namespace asdm::test
