// The I/O seam between a worker and the kernel. Two drivers implement it: io_uring (completion
// based: multishot accept/recv with a provided-buffer ring, batched submits) and epoll (the
// fallback where io_uring is refused). The worker never knows which one it runs on.
//
// Sockets are named by a Token: a slot index plus a generation, so a completion for a socket
// that was closed and whose slot was reused is recognised as stale and dropped.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace strata::proxy {

struct Token {
  uint32_t slot = 0;
  uint32_t gen = 0;  // only the low 24 bits travel through io_uring's user_data
  bool operator==(const Token&) const = default;
};

class IoHandler {
 public:
  virtual ~IoHandler() = default;
  // listener: the index of the listening socket, in the order listen() was called.
  virtual void on_accept(int fd, uint32_t listener) = 0;
  // n > 0: bytes received (valid only during the call); n == 0: peer closed; n < 0: -errno.
  virtual void on_recv(Token t, const char* data, long n) = 0;
  // res >= 0: bytes sent; < 0: -errno.
  virtual void on_sent(Token t, long res) = 0;
  virtual void on_connected(Token t, int res) = 0;
  virtual void on_tick() = 0;  // every tick_ms
  // The loop woke from its wait: once per run_once, before the events it brought.
  virtual void on_wakeup() {}
  virtual void on_wake() = 0;  // another thread called wake()
  // A one-shot poll() armed for t fired: res is the revents mask (POLLIN...), or -errno.
  virtual void on_poll(Token /*t*/, int /*res*/) {}
  // A write_file() for t finished: res is bytes written (after the fdatasync), or -errno.
  virtual void on_file_done(Token /*t*/, long /*res*/) {}
};

struct DriverFeatures {
  bool io_uring = false;
  bool multishot_accept = false;
  bool multishot_recv = false;
  bool buffer_ring = false;
  bool single_issuer = false;
  bool defer_taskrun = false;
  std::string describe() const;
};

class IoDriver {
 public:
  virtual ~IoDriver() = default;
  virtual const DriverFeatures& features() const = 0;
  virtual void listen(int fd) = 0;
  // Starts delivering received bytes for fd until the socket closes or pause_recv().
  virtual void start_recv(Token t, int fd) = 0;
  virtual void pause_recv(Token t, int fd) = 0;
  // One send in flight per token; the buffer must stay valid until on_sent.
  virtual void send(Token t, int fd, const char* data, size_t len) = 0;
  virtual void connect(Token t, int fd, const sockaddr* addr, socklen_t len) = 0;
  // Stops all activity on fd and closes it; no callback for t is delivered after this.
  virtual void close(Token t, int fd) = 0;
  // One-shot readiness watch on a socket strata does not read itself (libpq's): on_poll fires
  // once when `events` (POLLIN/POLLOUT) are ready. Re-arm after each callback.
  virtual void poll(Token t, int fd, uint32_t events) = 0;
  // Stops watching fd without closing it (libpq closes its own socket); no on_poll after this.
  virtual void forget(Token t, int fd) = 0;
  // Writes len bytes at offset, then fdatasync()s when `datasync` (io_uring: linked SQEs; the
  // epoll driver does both synchronously and reports on the next run_once). len 0 with
  // `datasync` is an fdatasync alone. One per token at a time; the buffer must stay valid until
  // on_file_done.
  virtual void write_file(Token t, int fd, const char* data, size_t len, uint64_t offset,
                          bool datasync) = 0;
  // Submits what is queued, waits for at least one event (or the next tick, or max_wait_ms
  // when >= 0: the loop's next timer), dispatches.
  virtual void run_once(int max_wait_ms) = 0;
  void run_once() { run_once(-1); }
  virtual void wake() = 0;  // thread-safe
};

struct DriverOptions {
  uint32_t ring_entries = 4096;
  uint32_t recv_buffer_bytes = 16 * 1024;
  uint32_t recv_buffer_count = 1024;  // power of two
  uint32_t tick_ms = 100;
  bool force_epoll = false;
};

// Tries io_uring; on refusal (seccomp, memlock, old kernel) returns the epoll driver and sets
// *why to one line saying what was refused.
std::unique_ptr<IoDriver> make_driver(const DriverOptions& opts, IoHandler* handler,
                                      std::string* why);

}  // namespace strata::proxy
