#include "bench/ws_recv.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "bench/uring_util.h"

namespace strata::bench {
namespace {

class EpollReceiver final : public WsReceiver {
 public:
  explicit EpollReceiver(const std::vector<int>& fds) : fds_(fds), buf_(1 << 16), evs_(512) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = 0; i < fds_.size(); ++i) {
      fcntl(fds_[i], F_SETFL, fcntl(fds_[i], F_GETFL) | O_NONBLOCK);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(ep_, EPOLL_CTL_ADD, fds_[i], &ev);
    }
  }
  ~EpollReceiver() override { close(ep_); }

  void wait(int timeout_ms) override {
    ready_ = epoll_wait(ep_, evs_.data(), static_cast<int>(evs_.size()), timeout_ms);
  }

  void drain(const OnBytes& on_bytes) override {
    for (int i = 0; i < ready_; ++i) {
      const size_t index = evs_[i].data.u64;
      ssize_t r;
      while ((r = recv(fds_[index], buf_.data(), buf_.size(), 0)) > 0) {
        on_bytes(index, std::string_view(buf_.data(), static_cast<size_t>(r)));
      }
    }
    ready_ = 0;
  }

 private:
  std::vector<int> fds_;
  std::vector<char> buf_;
  std::vector<epoll_event> evs_;
  int ep_ = -1;
  int ready_ = 0;
};

// Every socket has a multishot recv armed into one buffer group; a buffer goes back to the
// ring as soon as its bytes were handed over. Enough buffers that every socket can hold one
// receipt before the thread reads them (a recv that finds none ends with -ENOBUFS and is armed
// again).
constexpr unsigned kRingEntries = 4096;
constexpr unsigned kCqEntries = 65536;
constexpr unsigned kBufferCount = 16384;  // a power of two, at most 32768
constexpr unsigned kBufferBytes = 2048;
constexpr uint16_t kBufferGroup = 1;

class UringReceiver final : public WsReceiver {
 public:
  explicit UringReceiver(const std::vector<int>& fds) : fds_(fds) {}
  ~UringReceiver() override {
    if (ring_ready_) io_uring_queue_exit(&ring_);
    if (bufs_ != nullptr) munmap(bufs_, ring_bytes());
  }

  std::string init() {
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    p.cq_entries = kCqEntries;
    if (int r = io_uring_queue_init_params(kRingEntries, &ring_, &p); r < 0) {
      return std::string("io_uring_queue_init: ") + std::strerror(-r);
    }
    ring_ready_ = true;
    io_uring_register_ring_fd(&ring_);
    int err = 0;
    bufs_ = register_buffer_ring(&ring_, kBufferCount, kBufferGroup, &err);
    if (bufs_ == nullptr) return std::string("provided buffer ring: ") + std::strerror(-err);
    memory_.resize(size_t{kBufferCount} * kBufferBytes);
    for (unsigned i = 0; i < kBufferCount; ++i) recycle(i);
    for (size_t i = 0; i < fds_.size(); ++i) {
      // A recv on an O_NONBLOCK socket would complete with -EAGAIN instead of waiting.
      fcntl(fds_[i], F_SETFL, fcntl(fds_[i], F_GETFL) & ~O_NONBLOCK);
      arm(i);
    }
    io_uring_submit(&ring_);
    return {};
  }

  void wait(int timeout_ms) override {
    __kernel_timespec ts{};
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1'000'000;
    io_uring_cqe* first = nullptr;
    io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
  }

  void drain(const OnBytes& on_bytes) override {
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      const size_t index = io_uring_cqe_get_data64(cqe);
      const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
      if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER) != 0) {
        const unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        on_bytes(index,
                 std::string_view(memory_.data() + size_t{id} * kBufferBytes,
                                  static_cast<size_t>(cqe->res)));
        recycle(id);
      }
      // Ended (out of buffers, or the kernel's own limit): armed again while the socket lives.
      if (!more && (cqe->res > 0 || cqe->res == -ENOBUFS)) arm(index);
    }
    io_uring_cq_advance(&ring_, seen);
  }

 private:
  static size_t ring_bytes() { return kBufferCount * sizeof(io_uring_buf); }

  void arm(size_t index) { arm_recv_multishot(&ring_, fds_[index], kBufferGroup, index); }
  void recycle(unsigned id) {
    recycle_buffer(bufs_, memory_.data() + size_t{id} * kBufferBytes, kBufferBytes, id,
                   kBufferCount);
  }

  std::vector<int> fds_;
  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* bufs_ = nullptr;
  std::vector<char> memory_;
};

}  // namespace

std::unique_ptr<WsReceiver> make_epoll_receiver(const std::vector<int>& fds) {
  return std::make_unique<EpollReceiver>(fds);
}

std::unique_ptr<WsReceiver> make_uring_receiver(const std::vector<int>& fds, std::string* err) {
  auto r = std::make_unique<UringReceiver>(fds);
  *err = r->init();
  if (!err->empty()) return nullptr;
  return r;
}

}  // namespace strata::bench
