#include "bench/load_net.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "bench/load_reply_counter.h"

namespace strata::bench {
namespace {

// Redis's HELLO reply is a few hundred bytes; reads of this size are enough to take it in.
constexpr size_t kHelloReplyBytesMax = 4096;

}  // namespace

bool hello3(int fd, std::string& error) {
  return setup_command(fd, "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", "HELLO 3", error);
}

bool setup_command(int fd, std::string_view request, std::string_view what, std::string& error) {
  const std::string name(what);
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    error = name + ": send: " + std::strerror(errno);
    return false;
  }
  ReplyCounter counter;
  bool done = false;
  ReplyClass got = ReplyClass::kValue;
  char buf[kHelloReplyBytesMax];
  while (!done) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      error = n == 0 ? name + ": connection closed" : name + ": recv: " + std::strerror(errno);
      return false;
    }
    const bool ok = counter.feed(std::string_view(buf, static_cast<size_t>(n)), [&](ReplyClass c) {
      done = true;
      got = c;
    });
    if (!ok) {
      error = name + ": malformed reply";
      return false;
    }
  }
  if (got == ReplyClass::kError) error = name + " refused";
  return got != ReplyClass::kError;
}

int connect_tcp(const Target& target, int io_timeout_s, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(target.port);
  if (int rc = getaddrinfo(target.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    error = "resolve " + target.name() + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (io_timeout_s > 0) {
      timeval tv{io_timeout_s, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      error = "connect " + target.name() + ": " + std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return fd;
}

}  // namespace strata::bench
