// Listening sockets: one per worker on the same address, spread by the kernel (SO_REUSEPORT).
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "proxy/loop/event_loop.h"

namespace strata::proxy {

int make_listener(const std::string& bind, uint16_t port, std::string* err) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = std::string("socket: ") + strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, bind.c_str(), &addr.sin_addr) != 1) {
    *err = "invalid bind address '" + bind + "' (an IPv4 address is expected)";
    ::close(fd);
    return -1;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(fd, 511) < 0) {
    *err = "cannot listen on " + bind + ":" + std::to_string(port) + ": " + strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

bool admit_accepted(int fd, uint64_t live, uint64_t max, std::string_view refusal) {
  if (live >= max) {
    [[maybe_unused]] ssize_t w =
        ::send(fd, refusal.data(), refusal.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    return false;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return true;
}

}  // namespace strata::proxy
