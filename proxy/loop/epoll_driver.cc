// epoll driver: the fallback where io_uring is refused. Readiness based, but it presents the
// same completion-style callbacks as the io_uring driver (sends complete asynchronously, in
// the next run_once), so the worker's logic is identical on both.
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstring>
#include <utility>
#include <vector>

#include "proxy/loop/io_driver.h"

namespace strata::proxy {
namespace {

constexpr uint64_t kListenerTag = 1ull << 62;
constexpr uint64_t kTimerTag = 2ull << 62;
constexpr uint64_t kWakeTag = 3ull << 62;

void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

struct PendingSend {
  const char* data = nullptr;
  size_t len = 0;
  size_t done = 0;
  bool active = false;
};

struct EpollSlot {
  int fd = -1;
  uint32_t gen = 0;
  bool reading = false;
  bool connecting = false;
  bool want_write = false;
  uint32_t events = 0;  // registered interest
  PendingSend send;
  bool polling = false;          // a one-shot poll() is armed
  bool poll_registered = false;  // fd is in the epoll set with EPOLLONESHOT
};

struct FileDone {
  Token t;
  long res;
};

class EpollDriver final : public IoDriver {
 public:
  EpollDriver(const DriverOptions& opts, IoHandler* handler)
      : opts_(opts), handler_(handler), buf_(opts.recv_buffer_bytes) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    itimerspec its{};
    its.it_interval.tv_sec = opts.tick_ms / 1000;
    its.it_interval.tv_nsec = static_cast<long>(opts.tick_ms % 1000) * 1'000'000;
    its.it_value = its.it_interval;
    timerfd_settime(timer_fd_, 0, &its, nullptr);
    add(timer_fd_, EPOLLIN, kTimerTag);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    add(wake_fd_, EPOLLIN, kWakeTag);
  }
  ~EpollDriver() override {
    ::close(timer_fd_);
    ::close(wake_fd_);
    ::close(ep_);
  }

  const DriverFeatures& features() const override { return features_; }

  void listen(int fd) override {
    set_nonblocking(fd);
    listeners_.push_back(fd);
    add(fd, EPOLLIN, kListenerTag | (listeners_.size() - 1));
  }

  void start_recv(Token t, int fd) override {
    EpollSlot& s = slot(t);
    s.fd = fd;
    s.gen = t.gen;
    s.reading = true;
    update(t);
  }

  void pause_recv(Token t, int /*fd*/) override {
    slot(t).reading = false;
    update(t);
  }

  void send(Token t, int fd, const char* data, size_t len) override {
    EpollSlot& s = slot(t);
    s.fd = fd;
    s.gen = t.gen;
    s.send = PendingSend{data, len, 0, true};
    ready_sends_.push_back(t);
  }

  void connect(Token t, int fd, const sockaddr* addr, socklen_t len) override {
    set_nonblocking(fd);
    EpollSlot& s = slot(t);
    s.fd = fd;
    s.gen = t.gen;
    int rc = ::connect(fd, addr, len);
    if (rc == 0 || errno == EINPROGRESS) {
      s.connecting = true;
      update(t);
    } else {
      connect_results_.push_back({t, -errno});
    }
  }

  void close(Token t, int fd) override {
    EpollSlot& s = slot(t);
    if (s.events != 0) epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
    if (s.send.active) sent_after_close_.push_back(t);  // owner frees its buffer on on_sent
    s = EpollSlot{};
    s.gen = ~0u;
    ::close(fd);
  }

  void poll(Token t, int fd, uint32_t events) override {
    EpollSlot& s = slot(t);
    if (s.poll_registered && s.fd != fd) s.poll_registered = false;  // libpq's socket changed
    s.fd = fd;
    s.gen = t.gen;
    s.polling = true;
    epoll_event ev{};
    ev.events = events | EPOLLONESHOT;
    ev.data.u64 = tag(t);
    // A closed fd leaves the epoll set by itself, and its number may come back for a new socket:
    // fall back between MOD and ADD instead of trusting poll_registered blindly.
    int rc = epoll_ctl(ep_, s.poll_registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    if (rc < 0 && errno == ENOENT) rc = epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    if (rc < 0 && errno == EEXIST) rc = epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev);
    s.poll_registered = rc == 0;
    if (rc < 0) polls_failed_.push_back({t, -errno});
  }

  void forget(Token t, int fd) override {
    EpollSlot& s = slot(t);
    if (s.poll_registered) epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
    s = EpollSlot{};
    s.gen = ~0u;
  }

  // Synchronous: regular files are always "ready", so there is nothing to wait for; the
  // completion is still delivered from the next run_once, as io_uring would.
  void write_file(Token t, int fd, const char* data, size_t len, uint64_t offset,
                  bool datasync) override {
    size_t done = 0;
    long res = 0;
    while (done < len) {
      ssize_t w = ::pwrite(fd, data + done, len - done, static_cast<off_t>(offset + done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        res = w < 0 ? -errno : -EIO;
        break;
      }
      done += static_cast<size_t>(w);
    }
    if (res == 0 && datasync && ::fdatasync(fd) < 0) res = -errno;
    files_done_.push_back({t, res < 0 ? res : static_cast<long>(done)});
  }

  void run_once(int max_wait_ms) override {
    flush_sends();
    for (auto [t, res] : std::exchange(files_done_, {})) handler_->on_file_done(t, res);
    for (auto [t, res] : std::exchange(polls_failed_, {})) {
      if (live(t) && slots_[t.slot].polling) {
        slots_[t.slot].polling = false;
        handler_->on_poll(t, res);
      }
    }
    for (auto [t, res] : std::exchange(connect_results_, {})) handler_->on_connected(t, res);
    for (Token t : std::exchange(sent_after_close_, {})) handler_->on_sent(t, -ECONNRESET);
    epoll_event events[256];
    const bool more = !ready_sends_.empty() || !completed_.empty() || !files_done_.empty() ||
                      !polls_failed_.empty() || !connect_results_.empty();
    const int timeout = more ? 0 : max_wait_ms;
    int n = epoll_wait(ep_, events, 256, timeout);
    handler_->on_wakeup();
    // Swapped with a scratch vector, so both keep their capacity: no allocation per turn.
    completed_scratch_.clear();
    std::swap(completed_, completed_scratch_);
    for (auto [t, res] : completed_scratch_) handler_->on_sent(t, res);
    for (int i = 0; i < n; ++i) dispatch(events[i]);
  }

  void wake() override {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof one);
  }

 private:
  EpollSlot& slot(Token t) {
    if (t.slot >= slots_.size()) slots_.resize(t.slot + 64);
    return slots_[t.slot];
  }
  bool live(Token t) const {
    return t.slot < slots_.size() && (slots_[t.slot].gen & 0xffffff) == t.gen;
  }
  static uint64_t tag(Token t) { return (static_cast<uint64_t>(t.gen & 0xffffff) << 32) | t.slot; }

  void add(int fd, uint32_t events, uint64_t data) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }

  void update(Token t) {
    EpollSlot& s = slots_[t.slot];
    uint32_t want =
        (s.reading ? EPOLLIN | EPOLLRDHUP : 0u) | ((s.connecting || s.want_write) ? EPOLLOUT : 0u);
    if (want == s.events) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = tag(t);
    if (s.events == 0) {
      epoll_ctl(ep_, EPOLL_CTL_ADD, s.fd, &ev);
    } else if (want == 0) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, s.fd, nullptr);
    } else {
      epoll_ctl(ep_, EPOLL_CTL_MOD, s.fd, &ev);
    }
    s.events = want;
  }

  // Writes what it can now; a send that cannot finish waits for EPOLLOUT.
  void flush_sends() {
    ready_scratch_.clear();
    std::swap(ready_sends_, ready_scratch_);
    for (Token t : ready_scratch_) try_send(t);
  }

  void try_send(Token t) {
    EpollSlot& s = slots_[t.slot];
    if (!s.send.active || (s.gen & 0xffffff) != t.gen) return;
    PendingSend& p = s.send;
    while (p.done < p.len) {
      ssize_t w = ::send(s.fd, p.data + p.done, p.len - p.done, MSG_NOSIGNAL);
      if (w > 0) {
        p.done += static_cast<size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else if (w < 0 && errno == EAGAIN) {
        if (p.done > 0) break;  // report the partial send now; the owner resubmits the rest
        s.want_write = true;    // nothing went out: wait for EPOLLOUT
        update(t);
        return;
      } else {
        complete(t, -errno);
        return;
      }
    }
    complete(t, static_cast<long>(p.done));
  }

  void complete(Token t, long res) {
    EpollSlot& s = slots_[t.slot];
    s.send = PendingSend{};
    s.want_write = false;
    update(t);
    completed_.push_back({t, res});
  }

  void dispatch(const epoll_event& ev) {
    const uint64_t d = ev.data.u64;
    const uint64_t kind = d & (3ull << 62);
    if (kind == kListenerTag) return accept_all(static_cast<uint32_t>(d & 0xffffffff));
    if (kind == kTimerTag) {
      uint64_t v;
      [[maybe_unused]] ssize_t r = ::read(timer_fd_, &v, sizeof v);
      return handler_->on_tick();
    }
    if (kind == kWakeTag) {
      uint64_t v;
      [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof v);
      return handler_->on_wake();
    }
    const Token t{static_cast<uint32_t>(d), static_cast<uint32_t>(d >> 32) & 0xffffff};
    if (t.slot >= slots_.size() || (slots_[t.slot].gen & 0xffffff) != t.gen) return;
    EpollSlot& s = slots_[t.slot];
    if (s.polling) {
      s.polling = false;  // EPOLLONESHOT disarmed it; epoll and poll share the bit values
      return handler_->on_poll(t, static_cast<int>(ev.events & 0xffff));
    }
    if ((ev.events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && s.connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      s.connecting = false;
      update(t);
      handler_->on_connected(t, -err);
      if (t.slot >= slots_.size() || (slots_[t.slot].gen & 0xffffff) != t.gen) return;
    }
    if ((ev.events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && s.send.active) try_send(t);
    if (t.slot >= slots_.size() || (slots_[t.slot].gen & 0xffffff) != t.gen) return;
    if ((ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) && slots_[t.slot].reading) {
      read_all(t);
    }
  }

  void read_all(Token t) {
    // Bounded: at most a few buffers per event so one client cannot starve the others.
    for (int i = 0; i < 4; ++i) {
      EpollSlot& s = slots_[t.slot];
      if (!s.reading || (s.gen & 0xffffff) != t.gen) return;
      ssize_t r = ::recv(s.fd, buf_.data(), buf_.size(), 0);
      if (r > 0) {
        handler_->on_recv(t, buf_.data(), r);
        if (static_cast<size_t>(r) < buf_.size()) return;
      } else if (r == 0) {
        return handler_->on_recv(t, nullptr, 0);
      } else if (errno == EAGAIN || errno == EINTR) {
        return;
      } else {
        return handler_->on_recv(t, nullptr, -errno);
      }
    }
  }

  void accept_all(uint32_t index) {
    const int lfd = listeners_[index];
    for (int i = 0; i < 64; ++i) {
      int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      handler_->on_accept(fd, index);
    }
  }

  DriverOptions opts_;
  IoHandler* handler_;
  DriverFeatures features_;
  int ep_ = -1;
  int timer_fd_ = -1;
  int wake_fd_ = -1;
  std::vector<char> buf_;
  std::vector<int> listeners_;
  std::vector<EpollSlot> slots_;
  std::vector<Token> ready_sends_;
  std::vector<Token> ready_scratch_;
  std::vector<Token> sent_after_close_;
  std::vector<std::pair<Token, long>> completed_;
  std::vector<std::pair<Token, long>> completed_scratch_;
  std::vector<std::pair<Token, int>> connect_results_;
  std::vector<FileDone> files_done_;
  std::vector<std::pair<Token, int>> polls_failed_;
};

}  // namespace

std::unique_ptr<IoDriver> make_epoll_driver(const DriverOptions& opts, IoHandler* handler) {
  return std::make_unique<EpollDriver>(opts, handler);
}

}  // namespace strata::proxy
