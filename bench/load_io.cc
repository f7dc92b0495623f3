#include "bench/load_io.h"

#include <liburing.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace strata::bench {
namespace {

constexpr unsigned kRingEntriesMax = 32768;
constexpr int kEpollEventsMax = 256;

// user_data = slot << 8 | op: an index, never a pointer.
uint64_t pack(uint32_t slot, IoOp op) { return (uint64_t{slot} << 8) | static_cast<uint8_t>(op); }

class UringIo final : public LoadIo {
 public:
  ~UringIo() override {
    if (ok_) io_uring_queue_exit(&ring_);
  }
  // Prefers the cheapest completion mode the kernel offers, falling back for older kernels.
  int init(uint32_t slots) {
    unsigned entries = 8;
    while (entries < 2u * slots + 8 && entries < kRingEntriesMax) entries *= 2;
    const unsigned flag_sets[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    for (unsigned flags : flag_sets) {
      io_uring_params params{};
      params.flags = flags;
      rc = io_uring_queue_init_params(entries, &ring_, &params);
      if (rc == 0) {
        ok_ = true;
        return 0;
      }
    }
    return rc;
  }
  void send(uint32_t slot, int fd, const char* buf, size_t len) override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, pack(slot, IoOp::kSend));
  }
  void recv(uint32_t slot, int fd, char* buf, size_t len) override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv(sqe, fd, buf, len, 0);
    io_uring_sqe_set_data64(sqe, pack(slot, IoOp::kRecv));
  }
  std::expected<void, std::string> wait(std::vector<IoCompletion>& out) override {
    const int rc = io_uring_submit_and_wait(&ring_, 1);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      return std::unexpected(std::string("io_uring_submit_and_wait: ") + std::strerror(-rc));
    }
    io_uring_cqe* cqe = nullptr;
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      const uint64_t data = io_uring_cqe_get_data64(cqe);
      out.push_back({static_cast<uint32_t>(data >> 8), static_cast<IoOp>(data & 0xff), cqe->res});
    }
    io_uring_cq_advance(&ring_, seen);
    return {};
  }
  const char* name() const override { return "io_uring"; }

 private:
  io_uring_sqe* get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {  // SQ full: flush and retry (the ring is sized so this is rare)
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }
  io_uring ring_{};
  bool ok_ = false;
};

// Readiness-based emulation of the completion model: sends are tried at once, recvs wait for
// EPOLLIN. Interest is re-armed per operation (EPOLLONESHOT), so a closed socket with nothing
// queued cannot spin the loop.
class EpollIo final : public LoadIo {
 public:
  explicit EpollIo(uint32_t slots) : slots_(slots) {}
  ~EpollIo() override {
    if (epfd_ >= 0) close(epfd_);
  }
  int init() {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    return epfd_ < 0 ? -errno : 0;
  }
  void send(uint32_t slot, int fd, const char* buf, size_t len) override {
    const ssize_t n = ::send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      ready_.push_back({slot, IoOp::kSend, n >= 0 ? static_cast<int>(n) : -errno});
      return;
    }
    Slot& s = slots_[slot];
    s.send_buf = buf;
    s.send_len = len;
    arm(slot, fd);
  }
  void recv(uint32_t slot, int fd, char* buf, size_t len) override {
    Slot& s = slots_[slot];
    s.recv_buf = buf;
    s.recv_len = len;
    arm(slot, fd);
  }
  std::expected<void, std::string> wait(std::vector<IoCompletion>& out) override {
    if (!ready_.empty()) {
      out.insert(out.end(), ready_.begin(), ready_.end());
      ready_.clear();
      return {};
    }
    epoll_event events[kEpollEventsMax];
    const int n = epoll_wait(epfd_, events, kEpollEventsMax, -1);
    if (n < 0 && errno != EINTR)
      return std::unexpected(std::string("epoll_wait: ") + strerror(errno));
    for (int i = 0; i < n; ++i)
      on_event(static_cast<uint32_t>(events[i].data.u32), events[i].events, out);
    return {};
  }
  const char* name() const override { return "epoll"; }

 private:
  struct Slot {
    int fd = -1;
    bool registered = false;
    const char* send_buf = nullptr;  // non-null while a send waits for EPOLLOUT
    size_t send_len = 0;
    char* recv_buf = nullptr;  // non-null while a recv waits for EPOLLIN
    size_t recv_len = 0;
  };

  void arm(uint32_t slot, int fd) {
    Slot& s = slots_[slot];
    s.fd = fd;
    epoll_event ev{};
    ev.events = EPOLLONESHOT | (s.recv_buf ? EPOLLIN : 0u) | (s.send_buf ? EPOLLOUT : 0u);
    ev.data.u32 = slot;
    if (epoll_ctl(epfd_, s.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) == 0) {
      s.registered = true;
    }
  }

  void on_event(uint32_t slot, uint32_t events, std::vector<IoCompletion>& out) {
    Slot& s = slots_[slot];
    const bool failed = (events & (EPOLLERR | EPOLLHUP)) != 0;
    if (s.send_buf && (events & EPOLLOUT || failed)) {
      const ssize_t n = ::send(s.fd, s.send_buf, s.send_len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        out.push_back({slot, IoOp::kSend, n >= 0 ? static_cast<int>(n) : -errno});
        s.send_buf = nullptr;
      }
    }
    if (s.recv_buf && (events & EPOLLIN || failed)) {
      const ssize_t n = ::recv(s.fd, s.recv_buf, s.recv_len, MSG_DONTWAIT);
      if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        out.push_back({slot, IoOp::kRecv, n >= 0 ? static_cast<int>(n) : -errno});
        s.recv_buf = nullptr;
      }
    }
    if (s.send_buf || s.recv_buf) arm(slot, s.fd);  // still waiting for the rest
  }

  std::vector<Slot> slots_;
  std::vector<IoCompletion> ready_;  // sends that finished at once, reported by the next wait
  int epfd_ = -1;
};

}  // namespace

std::expected<std::unique_ptr<LoadIo>, std::string> make_load_io(IoKind kind, uint32_t slots,
                                                                 std::string& note) {
  if (kind != IoKind::kEpoll) {
    auto uring = std::make_unique<UringIo>();
    const int rc = uring->init(slots);
    if (rc == 0) return uring;
    const std::string why = std::string("io_uring_queue_init: ") + std::strerror(-rc);
    if (kind == IoKind::kUring) return std::unexpected(why);
    note = why + "; falling back to epoll";
  }
  auto epoll = std::make_unique<EpollIo>(slots);
  if (int rc = epoll->init(); rc != 0) {
    return std::unexpected(std::string("epoll_create1: ") + std::strerror(-rc));
  }
  return epoll;
}

}  // namespace strata::bench
