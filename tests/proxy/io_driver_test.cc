// Both drivers (io_uring and epoll) run the same echo exchange through the IoDriver interface:
// accept, multishot/readiness receive, sends, connect, tick, wake, close.
#include "proxy/loop/io_driver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "proxy/server/worker.h"

namespace strata::proxy {
namespace {

class EchoHandler : public IoHandler {
 public:
  IoDriver* driver = nullptr;
  int accepted_fd = -1;
  Token accepted{1, 1};  // the token the next accepted socket gets
  std::string received;    // on the accepted side
  std::string client_got;  // on the connecting side
  std::string echo_buf;
  int client_fd = -1;
  bool connected = false;
  bool closed = false;
  int ticks = 0;
  int wakes = 0;
  size_t sent = 0;

  void on_accept(int fd, uint32_t) override {
    accepted_fd = fd;
    driver->start_recv(accepted, fd);
  }
  void on_recv(Token t, const char* data, long n) override {
    if (n <= 0) {
      closed = true;
      return;
    }
    if (t == accepted) {
      received.append(data, n);
      echo_buf.assign(data, n);
      driver->send(accepted, accepted_fd, echo_buf.data(), echo_buf.size());
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

// A listener on a free loopback port, driven by a driver of the kind asked for.
struct EchoRig {
  int lfd = -1;
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  std::unique_ptr<IoDriver> d;
};

EchoRig echo_rig(bool force_epoll, EchoHandler* h) {
  EchoRig r;
  std::string err;
  r.lfd = make_listener("127.0.0.1", 0, &err);
  EXPECT_GE(r.lfd, 0) << err;
  getsockname(r.lfd, reinterpret_cast<sockaddr*>(&r.addr), &r.len);
  DriverOptions opts;
  opts.force_epoll = force_epoll;
  opts.tick_ms = 10;
  std::string why;
  r.d = make_driver(opts, h, &why);
  h->driver = r.d.get();
  EXPECT_EQ(r.d->features().io_uring, !force_epoll) << why;
  r.d->listen(r.lfd);
  return r;
}

void run_echo(bool force_epoll) {
  EchoHandler h;
  EchoRig rig = echo_rig(force_epoll, &h);
  ASSERT_GE(rig.lfd, 0);
  IoDriver* d = rig.d.get();
  const int lfd = rig.lfd;
  sockaddr_in& addr = rig.addr;
  const socklen_t len = rig.len;

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

// A slot closed and given to the next socket: receives and sends reach the new socket, not the
// one closed before it (both drivers keep state per slot: the fd, the receive armed on it).
void run_slot_reuse(bool force_epoll) {
  EchoHandler h;
  EchoRig rig = echo_rig(force_epoll, &h);
  ASSERT_GE(rig.lfd, 0);
  IoDriver* d = rig.d.get();
  for (uint32_t round = 1; round <= 3; ++round) {
    h.accepted = Token{1, round};
    h.received.clear();
    h.client_got.clear();
    h.connected = false;
    h.accepted_fd = -1;
    const Token client{2, round};
    h.client_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    d->connect(client, h.client_fd, reinterpret_cast<sockaddr*>(&rig.addr), rig.len);
    for (int i = 0; i < 200 && (!h.connected || h.accepted_fd < 0); ++i) d->run_once(10);
    ASSERT_TRUE(h.connected) << "round " << round;
    ASSERT_GE(h.accepted_fd, 0) << "round " << round;
    const std::string msg = "round " + std::to_string(round);
    d->send(client, h.client_fd, msg.data(), msg.size());
    for (int i = 0; i < 200 && h.client_got.size() < msg.size(); ++i) d->run_once(10);
    EXPECT_EQ(h.received, msg);
    EXPECT_EQ(h.client_got, msg);
    d->close(h.accepted, h.accepted_fd);
    d->close(client, h.client_fd);
    for (int i = 0; i < 5; ++i) d->run_once(1);
  }
  ::close(rig.lfd);
}

TEST(IoDriver, SlotReusedOverIoUring) { run_slot_reuse(false); }
TEST(IoDriver, SlotReusedOverEpoll) { run_slot_reuse(true); }

// Records poll and file completions (the libpq socket watch and the journal's writes).
class RecordingHandler : public IoHandler {
 public:
  std::vector<std::pair<Token, int>> polls;
  std::vector<std::pair<Token, long>> files;
  void on_accept(int, uint32_t) override {}
  void on_recv(Token, const char*, long) override {}
  void on_sent(Token, long) override {}
  void on_connected(Token, int) override {}
  void on_tick() override {}
  void on_wake() override {}
  void on_poll(Token t, int res) override { polls.push_back({t, res}); }
  void on_file_done(Token t, long res) override { files.push_back({t, res}); }
};

std::unique_ptr<IoDriver> driver_for(bool force_epoll, IoHandler* h) {
  DriverOptions opts;
  opts.force_epoll = force_epoll;
  opts.tick_ms = 5;
  std::string why;
  auto d = make_driver(opts, h, &why);
  EXPECT_EQ(d->features().io_uring, !force_epoll) << why;
  return d;
}

void run_poll(bool force_epoll) {
  RecordingHandler h;
  auto d = driver_for(force_epoll, &h);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  const Token t{3, 7};

  // Nothing to read yet: no callback.
  d->poll(t, sv[0], POLLIN);
  for (int i = 0; i < 4; ++i) d->run_once();
  EXPECT_TRUE(h.polls.empty());
  ASSERT_EQ(::write(sv[1], "x", 1), 1);
  for (int i = 0; i < 50 && h.polls.empty(); ++i) d->run_once();
  ASSERT_EQ(h.polls.size(), 1u);
  EXPECT_EQ(h.polls[0].first, t);
  EXPECT_TRUE(h.polls[0].second & POLLIN);

  // One-shot: still readable, but not re-armed, so nothing more.
  for (int i = 0; i < 4; ++i) d->run_once();
  EXPECT_EQ(h.polls.size(), 1u);

  // Re-armed for writing: fires at once.
  d->poll(t, sv[0], POLLOUT);
  for (int i = 0; i < 50 && h.polls.size() < 2; ++i) d->run_once();
  ASSERT_EQ(h.polls.size(), 2u);
  EXPECT_TRUE(h.polls[1].second & POLLOUT);

  // forget() suppresses an armed poll, even one whose event is already there.
  char c;
  ASSERT_EQ(::read(sv[0], &c, 1), 1);
  d->poll(t, sv[0], POLLIN);
  d->forget(t, sv[0]);
  ASSERT_EQ(::write(sv[1], "y", 1), 1);
  for (int i = 0; i < 6; ++i) d->run_once();
  EXPECT_EQ(h.polls.size(), 2u);

  // The same token armed again after forget() gets exactly one callback.
  d->poll(t, sv[0], POLLIN);
  for (int i = 0; i < 50 && h.polls.size() < 3; ++i) d->run_once();
  for (int i = 0; i < 4; ++i) d->run_once();
  ASSERT_EQ(h.polls.size(), 3u);
  EXPECT_TRUE(h.polls[2].second & POLLIN);

  // A forgotten fd is still open: the owner closes it.
  d->forget(t, sv[0]);
  EXPECT_EQ(fcntl(sv[0], F_GETFD), FD_CLOEXEC);
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST(IoDriver, PollOverIoUring) { run_poll(false); }
TEST(IoDriver, PollOverEpoll) { run_poll(true); }

void run_write_file(bool force_epoll) {
  RecordingHandler h;
  auto d = driver_for(force_epoll, &h);
  char path[] = "/tmp/strata_io_driver_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const Token t{5, 2};
  const std::string a = "hello ";
  std::string b(1 << 20, 'z');  // big enough to take more than one page
  d->write_file(t, fd, a.data(), a.size(), 0, true);
  for (int i = 0; i < 100 && h.files.empty(); ++i) d->run_once();
  ASSERT_EQ(h.files.size(), 1u);
  EXPECT_EQ(h.files[0].first, t);
  EXPECT_EQ(h.files[0].second, static_cast<long>(a.size()));
  d->write_file(t, fd, b.data(), b.size(), a.size(), false);
  for (int i = 0; i < 100 && h.files.size() < 2; ++i) d->run_once();
  ASSERT_EQ(h.files.size(), 2u);
  EXPECT_EQ(h.files[1].second, static_cast<long>(b.size()));

  std::string back(a.size() + b.size() + 10, '\0');
  ssize_t r = ::pread(fd, back.data(), back.size(), 0);
  ASSERT_EQ(r, static_cast<ssize_t>(a.size() + b.size()));
  back.resize(static_cast<size_t>(r));
  EXPECT_EQ(back, a + b);

  // A bad descriptor reports -errno, once.
  ::close(fd);
  ::unlink(path);
  d->write_file(t, fd, a.data(), a.size(), 0, true);
  for (int i = 0; i < 100 && h.files.size() < 3; ++i) d->run_once();
  for (int i = 0; i < 4; ++i) d->run_once();
  ASSERT_EQ(h.files.size(), 3u);
  EXPECT_EQ(h.files[2].second, -EBADF);

  // A read-only file refuses the write.
  char path2[] = "/tmp/strata_io_driver_XXXXXX";
  int wfd = mkstemp(path2);
  ASSERT_GE(wfd, 0);
  int rfd = ::open(path2, O_RDONLY | O_CLOEXEC);
  ::close(wfd);
  d->write_file(t, rfd, a.data(), a.size(), 0, true);
  for (int i = 0; i < 100 && h.files.size() < 4; ++i) d->run_once();
  ASSERT_EQ(h.files.size(), 4u);
  EXPECT_LT(h.files[3].second, 0);
  ::close(rfd);
  ::unlink(path2);
}

TEST(IoDriver, WriteFileOverIoUring) { run_write_file(false); }
TEST(IoDriver, WriteFileOverEpoll) { run_write_file(true); }

}  // namespace
}  // namespace strata::proxy
