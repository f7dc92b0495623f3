// io_uring driver: multishot accept, multishot recv into a provided-buffer ring, sends queued
// and submitted together with the wait (one io_uring_enter per loop iteration), a timeout SQE
// for the tick and a read on an eventfd for cross-thread wake-ups.
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "proxy/loop/io_driver.h"
#include "proxy/loop/log.h"

namespace strata::proxy {
namespace {

// kPoll/kPollAlt alternate per slot: forget() flips the slot's poll epoch, so the completion of a
// poll armed before it (cancelled or already fired) is recognised even if the same token re-arms.
enum class Op : uint8_t {
  kAccept = 1,
  kRecv,
  kSend,
  kConnect,
  kTick,
  kWake,
  kIgnore,
  kPoll,
  kPollAlt,
  kFileWrite,
  kFileSync,
};

constexpr uint16_t kBufferGroup = 1;

// io_uring completes an op on an O_NONBLOCK socket with -EAGAIN instead of waiting for it, so
// every socket the ring drives is made blocking (the ring itself never blocks).
void set_blocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

uint64_t pack(Op op, Token t) {
  return (static_cast<uint64_t>(op) << 56) | (static_cast<uint64_t>(t.gen & 0xffffff) << 32) |
         t.slot;
}
Op op_of(uint64_t ud) { return static_cast<Op>(ud >> 56); }
Token token_of(uint64_t ud) {
  return Token{static_cast<uint32_t>(ud), static_cast<uint32_t>(ud >> 32) & 0xffffff};
}

// A write_file() in flight: a WRITE linked to an FSYNC, two completions, one report.
struct FileOp {
  int fd = -1;
  uint32_t gen = 0;
  const char* data = nullptr;
  size_t len = 0;
  size_t done = 0;  // bytes written by earlier rounds (a short write is resubmitted)
  uint64_t offset = 0;
  bool datasync = false;
  bool active = false;
  int cqes_left = 0;
  long write_res = 0;
  long sync_res = 0;
};

// What the driver remembers per slot: whether a multishot recv is armed and wanted, whether a
// one-shot poll is armed (and in which epoch), and the file write in flight.
struct SlotState {
  int fd = -1;
  uint32_t gen = 0;
  bool recv_wanted = false;
  bool recv_armed = false;
  bool poll_armed = false;
  bool poll_alt = false;  // epoch: which of kPoll/kPollAlt the armed poll carries
  FileOp file;
};

class UringDriver final : public IoDriver {
 public:
  UringDriver(const DriverOptions& opts, IoHandler* handler) : opts_(opts), handler_(handler) {}

  ~UringDriver() override {
    if (buffers_ != nullptr) {
      munmap(buf_ring_, ring_bytes_);
      free(buffers_);
    }
    if (ring_ready_) io_uring_queue_exit(&ring_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  // Returns an empty string on success, else what was refused.
  std::string init() {
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int rc = io_uring_queue_init_params(opts_.ring_entries, &ring_, &params);
    if (rc == 0) {
      features_.single_issuer = features_.defer_taskrun = true;
    } else {
      params = {};
      rc = io_uring_queue_init_params(opts_.ring_entries, &ring_, &params);
    }
    if (rc < 0) return std::string("io_uring_queue_init: ") + strerror(-rc);
    ring_ready_ = true;
    features_.io_uring = true;
    // The ring's own fd registered (per thread: the loop runs on the thread that made it):
    // io_uring_enter skips the fd table lookup. Kernels before 5.18 refuse; nothing changes.
    io_uring_register_ring_fd(&ring_);
    io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
    if (probe == nullptr) return "io_uring probe refused";
    bool ops_ok = true;
    for (int op : {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_CONNECT,
                   IORING_OP_TIMEOUT, IORING_OP_READ, IORING_OP_ASYNC_CANCEL, IORING_OP_POLL_ADD,
                   IORING_OP_POLL_REMOVE, IORING_OP_WRITE, IORING_OP_FSYNC}) {
      ops_ok = ops_ok && io_uring_opcode_supported(probe, op);
    }
    io_uring_free_probe(probe);
    if (!ops_ok) {
      return "io_uring lacks accept/recv/send/connect/timeout/read/cancel/poll/write/fsync";
    }
    if (std::string err = setup_buffer_ring(); !err.empty()) return err;
    features_.buffer_ring = features_.multishot_recv = features_.multishot_accept = true;
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) return std::string("eventfd: ") + strerror(errno);
    arm_wake();
    arm_tick();
    return {};
  }

  const DriverFeatures& features() const override { return features_; }

  void listen(int fd) override {
    set_blocking(fd);
    listeners_.push_back(fd);
    arm_accept(static_cast<uint32_t>(listeners_.size() - 1));
  }

  void start_recv(Token t, int fd) override {
    SlotState& s = slot(t);
    s.fd = fd;
    s.gen = t.gen;
    s.recv_wanted = true;
    if (!s.recv_armed) arm_recv(t, fd);
  }

  void pause_recv(Token t, int /*fd*/) override {
    SlotState& s = slot(t);
    s.recv_wanted = false;
    if (s.recv_armed) {
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_cancel64(sqe, pack(Op::kRecv, t), 0);
      io_uring_sqe_set_data64(sqe, pack(Op::kIgnore, t));
    }
  }

  void send(Token t, int fd, const char* data, size_t len) override {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, fd, data, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, pack(Op::kSend, t));
  }

  void connect(Token t, int fd, const sockaddr* addr, socklen_t len) override {
    set_blocking(fd);
    SlotState& s = slot(t);
    s.fd = fd;
    s.gen = t.gen;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_connect(sqe, fd, addr, len);
    io_uring_sqe_set_data64(sqe, pack(Op::kConnect, t));
  }

  void close(Token t, int fd) override {
    SlotState& s = slot(t);
    s.recv_wanted = false;
    s.gen = ~0u;  // completions still in flight for t are now stale
    // shutdown() makes any in-flight recv/send complete at once; the fd is closed right away
    // since the ring holds its own reference to the file while an op is in flight.
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    s.recv_armed = false;
    s.fd = -1;
  }

  void poll(Token t, int fd, uint32_t events) override {
    SlotState& s = slot(t);
    s.fd = fd;
    s.gen = t.gen;
    s.poll_armed = true;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, fd, events);
    io_uring_sqe_set_data64(sqe, pack(s.poll_alt ? Op::kPollAlt : Op::kPoll, t));
  }

  void forget(Token t, int /*fd*/) override {
    SlotState& s = slot(t);
    if (s.poll_armed) {
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_poll_remove(sqe, pack(s.poll_alt ? Op::kPollAlt : Op::kPoll, t));
      io_uring_sqe_set_data64(sqe, pack(Op::kIgnore, t));
    }
    s.poll_armed = false;
    s.poll_alt = !s.poll_alt;  // the old poll's completion, whenever it comes, is now stale
    s.gen = ~0u;
    s.fd = -1;
  }

  void write_file(Token t, int fd, const char* data, size_t len, uint64_t offset,
                  bool datasync) override {
    FileOp& f = slot(t).file;
    f = FileOp{fd, t.gen, data, len, 0, offset, datasync, true, 0, 0, 0};
    submit_file(t, f);
  }

  void run_once(int max_wait_ms) override {
    // A bound needs IORING_FEAT_EXT_ARG (5.11): without it liburing would queue a timeout SQE
    // of its own, whose completion this loop does not expect; the tick bounds the wait then.
    if (max_wait_ms >= 0 && (ring_.features & IORING_FEAT_EXT_ARG) != 0) {
      __kernel_timespec ts{};
      ts.tv_sec = max_wait_ms / 1000;
      ts.tv_nsec = static_cast<long long>(max_wait_ms % 1000) * 1'000'000;
      io_uring_cqe* first = nullptr;
      io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
    } else {
      io_uring_submit_and_wait(&ring_, 1);
    }
    handler_->on_wakeup();
    unsigned head;
    unsigned count = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++count;
      dispatch(cqe);
    }
    io_uring_cq_advance(&ring_, count);
  }

  void wake() override {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }

 private:
  std::string setup_buffer_ring() {
    const uint32_t n = opts_.recv_buffer_count;
    ring_bytes_ = n * sizeof(io_uring_buf);
    void* mem =
        mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) return std::string("mmap buffer ring: ") + strerror(errno);
    buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(buf_ring_);
    reg.ring_entries = n;
    reg.bgid = kBufferGroup;
    int rc = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (rc < 0) {
      munmap(buf_ring_, ring_bytes_);
      buf_ring_ = nullptr;
      return std::string("provided buffer rings unsupported: ") + strerror(-rc);
    }
    buffers_ = static_cast<char*>(aligned_alloc(4096, size_t{n} * opts_.recv_buffer_bytes));
    io_uring_buf_ring_init(buf_ring_);
    for (uint32_t i = 0; i < n; ++i) {
      io_uring_buf_ring_add(buf_ring_, buffer(i), opts_.recv_buffer_bytes, static_cast<uint16_t>(i),
                            io_uring_buf_ring_mask(n), static_cast<int>(i));
    }
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(n));
    return {};
  }

  char* buffer(uint32_t id) { return buffers_ + size_t{id} * opts_.recv_buffer_bytes; }

  void recycle(uint16_t id) {
    io_uring_buf_ring_add(buf_ring_, buffer(id), opts_.recv_buffer_bytes, id,
                          io_uring_buf_ring_mask(opts_.recv_buffer_count), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
  }

  SlotState& slot(Token t) {
    if (t.slot >= slots_.size()) slots_.resize(t.slot + 64);
    return slots_[t.slot];
  }

  io_uring_sqe* get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  void arm_accept(uint32_t index) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, listeners_[index], nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, pack(Op::kAccept, Token{index, 0}));
  }

  void arm_recv(Token t, int fd) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, pack(Op::kRecv, t));
    slot(t).recv_armed = true;
  }

  void arm_tick() {
    tick_ts_.tv_sec = opts_.tick_ms / 1000;
    tick_ts_.tv_nsec = static_cast<long long>(opts_.tick_ms % 1000) * 1'000'000;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_timeout(sqe, &tick_ts_, 0, 0);
    io_uring_sqe_set_data64(sqe, pack(Op::kTick, Token{}));
  }

  void arm_wake() {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(sqe, pack(Op::kWake, Token{}));
  }

  bool live(Token t) const {
    return t.slot < slots_.size() && (slots_[t.slot].gen & 0xffffff) == t.gen;
  }

  void dispatch(io_uring_cqe* cqe) {
    const uint64_t ud = io_uring_cqe_get_data64(cqe);
    const Token t = token_of(ud);
    const bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
    switch (op_of(ud)) {
      case Op::kAccept:
        if (cqe->res >= 0) handler_->on_accept(cqe->res, t.slot);
        if (!more) arm_accept(t.slot);
        break;
      case Op::kRecv:
        on_recv_cqe(t, cqe, more);
        break;
      case Op::kSend:
        handler_->on_sent(t, cqe->res);  // delivered even after close: the owner frees the buffer
        break;
      case Op::kConnect:
        if (live(t)) handler_->on_connected(t, cqe->res);
        break;
      case Op::kTick:
        arm_tick();
        handler_->on_tick();
        break;
      case Op::kWake:
        arm_wake();
        handler_->on_wake();
        break;
      case Op::kPoll:
      case Op::kPollAlt:
        on_poll_cqe(t, op_of(ud) == Op::kPollAlt, cqe->res);
        break;
      case Op::kFileWrite:
      case Op::kFileSync:
        on_file_cqe(t, op_of(ud) == Op::kFileWrite, cqe->res);
        break;
      case Op::kIgnore:
        break;
    }
  }

  void on_poll_cqe(Token t, bool alt, int res) {
    if (!live(t)) return;
    SlotState& s = slots_[t.slot];
    if (!s.poll_armed || s.poll_alt != alt) return;  // armed before a forget()
    s.poll_armed = false;
    handler_->on_poll(t, res);
  }

  // Writes what is left of f (from f.done), linked to an fdatasync when asked.
  void submit_file(Token t, FileOp& f) {
    // Both SQEs must land in the same submission for the link to hold.
    if (f.datasync && io_uring_sq_space_left(&ring_) < 2) io_uring_submit(&ring_);
    io_uring_sqe* sqe = get_sqe();
    const size_t left = f.len - f.done;
    io_uring_prep_write(sqe, f.fd, f.data + f.done, static_cast<unsigned>(left), f.offset + f.done);
    io_uring_sqe_set_data64(sqe, pack(Op::kFileWrite, t));
    f.cqes_left = 1;
    f.write_res = f.sync_res = 0;
    if (f.datasync) {
      sqe->flags |= IOSQE_IO_LINK;
      io_uring_sqe* sync = get_sqe();
      io_uring_prep_fsync(sync, f.fd, IORING_FSYNC_DATASYNC);
      io_uring_sqe_set_data64(sync, pack(Op::kFileSync, t));
      f.cqes_left = 2;
    }
  }

  void on_file_cqe(Token t, bool is_write, int res) {
    if (t.slot >= slots_.size()) return;
    FileOp& f = slots_[t.slot].file;
    if (!f.active || (f.gen & 0xffffff) != t.gen) return;
    (is_write ? f.write_res : f.sync_res) = res;
    if (--f.cqes_left > 0) return;
    long report;
    if (f.write_res < 0) {
      report = f.write_res;
    } else if (f.write_res == 0 && f.len > 0) {
      report = -EIO;  // no progress: do not spin
    } else if (f.done + static_cast<size_t>(f.write_res) < f.len) {
      // A short write broke the link (the fsync came back cancelled): write the rest.
      f.done += static_cast<size_t>(f.write_res);
      submit_file(t, f);
      return;
    } else if (f.sync_res < 0) {
      report = f.sync_res;
    } else {
      report = static_cast<long>(f.len);
    }
    f.active = false;
    handler_->on_file_done(t, report);
  }

  void on_recv_cqe(Token t, io_uring_cqe* cqe, bool more) {
    const int res = cqe->res;
    const bool has_buffer = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
    const uint16_t bid = static_cast<uint16_t>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    const bool is_live = live(t);
    if (!more && t.slot < slots_.size() && is_live) slots_[t.slot].recv_armed = false;
    if (is_live) {
      if (res > 0 && has_buffer) {
        handler_->on_recv(t, buffer(bid), res);
      } else if (res == -ENOBUFS || res == -ECANCELED) {
        // Out of buffers (they come back as soon as this batch is processed) or paused.
      } else if (res <= 0) {
        handler_->on_recv(t, nullptr, res);
      }
    }
    if (has_buffer) recycle(bid);
    if (!more && live(t)) {
      SlotState& s = slots_[t.slot];
      if (s.recv_wanted && !s.recv_armed && s.fd >= 0 &&
          (res > 0 || res == -ENOBUFS || res == -ECANCELED)) {
        arm_recv(t, s.fd);
      }
    }
  }

  DriverOptions opts_;
  IoHandler* handler_;
  DriverFeatures features_;
  io_uring ring_{};
  bool ring_ready_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  size_t ring_bytes_ = 0;
  char* buffers_ = nullptr;
  int wake_fd_ = -1;
  uint64_t wake_value_ = 0;
  __kernel_timespec tick_ts_{};
  std::vector<int> listeners_;
  std::vector<SlotState> slots_;
};

}  // namespace

std::unique_ptr<IoDriver> make_epoll_driver(const DriverOptions& opts, IoHandler* handler);

std::unique_ptr<IoDriver> make_driver(const DriverOptions& opts, IoHandler* handler,
                                      std::string* why) {
  if (!opts.force_epoll) {
    auto d = std::make_unique<UringDriver>(opts, handler);
    std::string err = d->init();
    if (err.empty()) return d;
    *why = err;
  } else {
    *why = "epoll forced by configuration";
  }
  return make_epoll_driver(opts, handler);
}

std::string DriverFeatures::describe() const {
  if (!io_uring) return "epoll";
  std::string s = "io_uring";
  if (multishot_accept) s += " multishot-accept";
  if (multishot_recv) s += " multishot-recv";
  if (buffer_ring) s += " buffer-ring";
  if (single_issuer) s += " single-issuer";
  if (defer_taskrun) s += " defer-taskrun";
  return s;
}

}  // namespace strata::proxy
