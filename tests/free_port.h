#pragma once
// A loopback TCP port for tests of distributed jobs (rendezvous on 127.0.0.1 only).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace asdm::test {

// A loopback port nobody listens on now; with `keep`, the socket stays open and listening on it
// (a taken port) and its descriptor goes there.
inline int free_port(int* keep = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  if (keep) {
    ::listen(fd, 1);
    *keep = fd;
  } else {
    ::close(fd);
  }
  return ntohs(a.sin_port);
}

}  // namespace asdm::test
