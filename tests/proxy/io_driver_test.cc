// Both drivers (io_uring and epoll) run the same echo exchange through the IoDriver interface:
// accept, multishot/readiness receive, sends, connect, tick, wake, close.
#include "proxy/io_driver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "proxy/worker.h"

namespace strata::proxy {
namespace {

class EchoHandler : public IoHandler {
 public:
  IoDriver* driver = nullptr;
  int accepted_fd = -1;
  std::string received;    // on the accepted side
  std::string client_got;  // on the connecting side
  std::string echo_buf;
  int client_fd = -1;
  bool connected = false;
  bool closed = false;
  int ticks = 0;
  int wakes = 0;
  size_t sent = 0;

  void on_accept(int fd) override {
    accepted_fd = fd;
    driver->start_recv(Token{1, 1}, fd);
  }
  void on_recv(Token t, const char* data, long n) override {
    if (n <= 0) {
      closed = true;
      return;
    }
    if (t.slot == 1) {
      received.append(data, n);
      echo_buf.assign(data, n);
      driver->send(Token{1, 1}, accepted_fd, echo_buf.data(), echo_buf.size());
    } else {
      client_got.append(data, n);
    }
  }
  void on_sent(Token, long res) override { sent += res > 0 ? res : 0; }
  void on_connected(Token t, int res) override {
    connected = res == 0;
    if (connected) driver->start_recv(t, client_fd);
  }
  void on_tick() override { ++ticks; }
  void on_wake() override { ++wakes; }
};

void run_echo(bool force_epoll) {
  std::string err;
  int lfd = make_listener("127.0.0.1", 0, &err);
  ASSERT_GE(lfd, 0) << err;
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);

  EchoHandler h;
  DriverOptions opts;
  opts.force_epoll = force_epoll;
  opts.tick_ms = 10;
  std::string why;
  auto d = make_driver(opts, &h, &why);
  h.driver = d.get();
  EXPECT_EQ(d->features().io_uring, !force_epoll) << why;
  d->listen(lfd);

  h.client_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  d->connect(Token{2, 1}, h.client_fd, reinterpret_cast<sockaddr*>(&addr), len);
  for (int i = 0; i < 200 && !h.connected; ++i) d->run_once();
  ASSERT_TRUE(h.connected);

  const std::string msg = "*1\r\n$4\r\nPING\r\n";
  d->send(Token{2, 1}, h.client_fd, msg.data(), msg.size());
  for (int i = 0; i < 200 && h.client_got.size() < msg.size(); ++i) d->run_once();
  EXPECT_EQ(h.received, msg);
  EXPECT_EQ(h.client_got, msg);

  d->wake();
  for (int i = 0; i < 50 && h.wakes == 0; ++i) d->run_once();
  EXPECT_GE(h.wakes, 1);
  for (int i = 0; i < 50 && h.ticks < 2; ++i) d->run_once();
  EXPECT_GE(h.ticks, 2);

  // Closing the accepted side shows up as EOF on the client side.
  d->close(Token{1, 1}, h.accepted_fd);
  for (int i = 0; i < 200 && !h.closed; ++i) d->run_once();
  EXPECT_TRUE(h.closed);
  d->close(Token{2, 1}, h.client_fd);
  ::close(lfd);
}

TEST(IoDriver, EchoOverIoUring) { run_echo(false); }
TEST(IoDriver, EchoOverEpoll) { run_echo(true); }

}  // namespace
}  // namespace strata::proxy
