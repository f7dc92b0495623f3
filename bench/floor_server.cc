// strata-bench floor: the cheapest RESP server this machine can run, as a baseline for CPU per
// request. It answers every command from constants (GET: a fixed value, SET: +OK) with the same
// kernel path strata uses (io_uring with DEFER_TASKRUN, multishot accept and recv into a
// provided-buffer ring, one send per socket per loop iteration). What it costs per request is
// what the kernel charges for loopback TCP plus parsing: no server that answers each request
// with its own send can go much below it. Not a Redis: it keeps no data.
#include "bench/floor_server.h"

#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/uring_util.h"
#include "protocol/resp_parser.h"

namespace strata::bench {
namespace {

constexpr unsigned kRingEntries = 1024;
constexpr unsigned kBufferCount = 512;  // provided recv buffers (a power of two)
constexpr unsigned kBufferBytes = 4096;
constexpr unsigned kBufferGroup = 1;
constexpr size_t kRingBytes = kBufferCount * sizeof(io_uring_buf);
constexpr size_t kCarryMax = 1 << 20;  // a partial command larger than this closes the client
constexpr uint64_t kOpShift = 60;
enum Op : uint64_t { kAccept = 1, kRecv = 2, kSend = 3 };

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Conn {
  int fd = -1;
  protocol::RespParser parser;
  std::string carry;    // bytes of an unfinished command
  std::string out;      // replies not yet handed to the kernel
  std::string sending;  // the buffer of the send in flight
  size_t sent = 0;
  bool send_busy = false;
  bool dirty = false;
  bool closing = false;
  uint32_t gen = 0;
};

class FloorServer {
 public:
  FloorServer(int listen_fd, size_t value_bytes) : listen_fd_(listen_fd) {
    get_reply_ =
        "$" + std::to_string(value_bytes) + "\r\n" + std::string(value_bytes, 'x') + "\r\n";
  }
  ~FloorServer() {
    if (bufs_ != nullptr) munmap(bufs_, kRingBytes);
    io_uring_queue_exit(&ring_);
  }

  bool init() {
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (int r = io_uring_queue_init_params(kRingEntries, &ring_, &p); r < 0) {
      std::fprintf(stderr, "floor: io_uring_queue_init: %s\n", std::strerror(-r));
      return false;
    }
    io_uring_register_ring_fd(&ring_);
    int err = 0;
    bufs_ = register_buffer_ring(&ring_, kBufferCount, kBufferGroup, &err);
    if (bufs_ == nullptr) {
      std::fprintf(stderr, "floor: buffer ring: %s\n", std::strerror(-err));
      return false;
    }
    memory_.resize(size_t{kBufferCount} * kBufferBytes);
    for (unsigned i = 0; i < kBufferCount; ++i) recycle(i);
    arm_accept();
    return true;
  }

  void run() {
    while (g_stop == 0) {
      if (io_uring_submit_and_wait(&ring_, 1) < 0 && g_stop != 0) break;
      io_uring_cqe* cqe = nullptr;
      unsigned head = 0;
      unsigned seen = 0;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        handle(cqe);
      }
      io_uring_cq_advance(&ring_, seen);
      flush();
    }
  }

 private:
  io_uring_sqe* sqe() { return next_sqe(&ring_); }
  // A completion names the connection by fd and generation: an fd reused by a new connection
  // must not receive the old one's last completions.
  static uint64_t pack(Op op, int fd, uint32_t gen = 0) {
    return (uint64_t{op} << kOpShift) | (uint64_t{gen & 0xfffffffu} << 32) | unsigned(fd);
  }
  Conn* conn_for(uint64_t data) {
    const size_t fd = data & 0xffffffffu;
    Conn* c = fd < conns_.size() ? conns_[fd].get() : nullptr;
    const uint32_t gen = static_cast<uint32_t>(data >> 32) & 0xfffffffu;
    return c != nullptr && (c->gen & 0xfffffffu) == gen ? c : nullptr;
  }

  void arm_accept() {
    io_uring_sqe* s = sqe();
    io_uring_prep_multishot_accept(s, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, pack(kAccept, listen_fd_));
  }
  void arm_recv(int fd) {
    arm_recv_multishot(&ring_, fd, kBufferGroup, pack(kRecv, fd, conns_[fd]->gen));
  }
  void recycle(unsigned id) {
    recycle_buffer(bufs_, memory_.data() + size_t{id} * kBufferBytes, kBufferBytes, id,
                   kBufferCount);
  }

  void handle(io_uring_cqe* cqe) {
    const uint64_t data = io_uring_cqe_get_data64(cqe);
    switch (data >> kOpShift) {
      case kAccept:
        if (cqe->res >= 0) open(cqe->res);
        if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
        break;
      case kRecv:
        on_recv(data, cqe);
        break;
      case kSend:
        on_sent(conn_for(data), cqe->res);
        break;
    }
  }

  void open(int fd) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (static_cast<size_t>(fd) >= conns_.size()) conns_.resize(fd + 1);
    conns_[fd] = std::make_unique<Conn>();
    conns_[fd]->fd = fd;
    conns_[fd]->gen = ++generation_;
    arm_recv(fd);
  }

  void close_conn(Conn* c) {
    if (c->closing) return;
    const int fd = c->fd;
    c->closing = true;
    // The armed multishot recv holds a reference to the socket: close() alone would not end
    // the connection, shutdown() does (and completes the recv).
    shutdown(fd, SHUT_RDWR);
    if (!c->send_busy) {
      ::close(fd);
      conns_[fd].reset();
    }
  }

  void on_recv(uint64_t data, io_uring_cqe* cqe) {
    Conn* c = conn_for(data);
    const bool more = cqe->flags & IORING_CQE_F_MORE;
    if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
      const unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
      if (c != nullptr && !c->closing) {
        consume(c, std::string_view(memory_.data() + size_t{id} * kBufferBytes, cqe->res));
      }
      recycle(id);
      c = conn_for(data);  // consume() may have closed and freed it
    }
    if (c == nullptr || c->closing) return;
    if (cqe->res == 0 || (cqe->res < 0 && cqe->res != -ENOBUFS)) {
      close_conn(c);
    } else if (!more) {
      arm_recv(c->fd);
    }
  }

  void consume(Conn* c, std::string_view in) {
    std::string_view rest = in;
    if (!c->carry.empty()) {
      c->carry.append(in);
      rest = c->carry;
    }
    size_t used = 0;
    while (used < rest.size()) {
      protocol::ParseStatus st = c->parser.feed(rest.substr(used));
      if (st == protocol::ParseStatus::kNeedMore) break;
      if (st == protocol::ParseStatus::kError) {
        close_conn(c);
        return;
      }
      if (st == protocol::ParseStatus::kDone) reply(c, c->parser.args());
      used += c->parser.consumed();
    }
    if (rest.data() == c->carry.data()) {
      c->carry.erase(0, used);
    } else {
      c->carry.assign(rest.substr(used));
    }
    if (c->carry.size() > kCarryMax) {
      close_conn(c);  // may free c
      return;
    }
    if (!c->dirty && !c->out.empty()) {
      c->dirty = true;
      dirty_.push_back(c->fd);
    }
  }

  void reply(Conn* c, std::span<const std::string_view> args) {
    std::string_view name = args.empty() ? std::string_view() : args[0];
    auto is = [&](std::string_view want) {
      return name.size() == want.size() && strncasecmp(name.data(), want.data(), want.size()) == 0;
    };
    if (is("GET")) {
      c->out.append(get_reply_);
    } else if (is("PING")) {
      c->out.append("+PONG\r\n");
    } else if (is("CONFIG")) {
      c->out.append("*0\r\n");
    } else {
      c->out.append("+OK\r\n");
    }
  }

  void flush() {
    for (int fd : dirty_) {
      Conn* c = conns_[fd].get();
      if (c == nullptr) continue;
      c->dirty = false;
      if (!c->send_busy && !c->closing) start_send(c);
    }
    dirty_.clear();
  }

  void start_send(Conn* c) {
    if (c->out.empty()) return;
    c->sending.swap(c->out);
    c->out.clear();
    c->sent = 0;
    c->send_busy = true;
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, c->fd, c->sending.data(), c->sending.size(), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, pack(kSend, c->fd, c->gen));
  }

  void on_sent(Conn* c, int res) {
    if (c == nullptr) return;
    c->send_busy = false;
    if (c->closing || res <= 0) {
      c->closing = false;
      close_conn(c);
      return;
    }
    c->sent += static_cast<size_t>(res);
    if (c->sent < c->sending.size()) {  // a short send: the rest goes out first
      c->send_busy = true;
      io_uring_sqe* s = sqe();
      io_uring_prep_send(s, c->fd, c->sending.data() + c->sent, c->sending.size() - c->sent,
                         MSG_NOSIGNAL);
      io_uring_sqe_set_data64(s, pack(kSend, c->fd, c->gen));
      return;
    }
    start_send(c);
  }

  int listen_fd_;
  io_uring ring_{};
  io_uring_buf_ring* bufs_ = nullptr;
  std::vector<char> memory_;
  std::vector<std::unique_ptr<Conn>> conns_;  // by fd
  std::vector<int> dirty_;                    // connections with replies to send
  std::string get_reply_;
  uint32_t generation_ = 0;
};

int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 511) != 0) {
    std::fprintf(stderr, "floor: cannot listen on 127.0.0.1:%d: %s\n", port, std::strerror(errno));
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int run_floor_server(int argc, char** argv) {
  int port = 0;
  size_t value_bytes = 100;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (a == "--value-bytes" && i + 1 < argc) {
      value_bytes = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(a == "--help" ? stdout : stderr,
                   "usage: strata-bench floor --port P [--value-bytes N]\n"
                   "  a RESP server that answers from constants (GET: N bytes, else +OK) on\n"
                   "  127.0.0.1, one io_uring loop: the kernel's floor for CPU per request\n");
      return a == "--help" ? 0 : 2;
    }
  }
  if (port <= 0 || port > 65535 || value_bytes > (1u << 20)) {
    std::fprintf(stderr, "floor: need --port 1..65535 and --value-bytes <= 1048576\n");
    return 2;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  const int fd = listen_on(port);
  if (fd < 0) return 1;
  FloorServer server(fd, value_bytes);
  if (!server.init()) return 1;
  server.run();
  ::close(fd);
  return 0;
}

}  // namespace strata::bench
