// A socket a worker drives: a client connection or an upstream connection. Owns the send
// chain: bytes produced during one loop iteration accumulate in out_ and are handed to the
// kernel once, at the end of the iteration (one send per socket per iteration at most).
#pragma once

#include <cstdint>
#include <string>

#include "proxy/loop/io_driver.h"

namespace strata::proxy {

class Loop;
class ReplySink;

class Endpoint {
 public:
  Endpoint(Loop* loop, int fd) : loop_(loop), fd_(fd) {}
  virtual ~Endpoint() = default;
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  virtual void on_recv(const char* data, long n) = 0;
  virtual void on_connected(int /*res*/) {}
  virtual void on_tick(int64_t /*now_ms*/) {}
  // The send chain drained (or shrank below the pause mark); subclasses may resume input.
  virtual void on_output_drained() {}
  // Called once, when the socket is closed for any reason.
  virtual void on_closed() {}
  // A one-shot IoDriver::poll() armed for this endpoint fired: revents (POLLIN...) or -errno.
  virtual void on_poll(int /*revents*/) {}
  // An IoDriver::write_file() for this endpoint finished: bytes written or -errno. Delivered
  // even after close(), like on_sent: the owner may free the buffer now.
  virtual void on_file_done(long /*res*/) {}
  // The client end of replies, when this endpoint is one (a client connection); else null.
  virtual ReplySink* reply_sink() { return nullptr; }

  // Hands out_ to the kernel if no send is in flight. Called by the loop's flush.
  void flush();
  void on_sent(long res);
  // Marks the endpoint for flushing at the end of this loop iteration.
  void mark_dirty();
  // Closes the socket now; the object is freed once no send is in flight.
  void close();

  Token token() const { return token_; }
  int fd() const { return fd_; }
  bool closed() const { return closed_; }
  bool send_inflight() const { return send_inflight_; }
  // Bytes accepted for sending but not yet taken by the kernel.
  size_t pending_output() const { return out_.size() + (inflight_.size() - inflight_off_); }
  int64_t last_drain_ms() const { return last_drain_ms_; }

 protected:
  friend class Loop;
  // How close() lets go of the socket. Endpoints on a socket someone else owns (libpq's) stop
  // the driver watching it (IoDriver::forget) and let that owner close it.
  virtual void release_socket();
  Loop* loop_;
  int fd_;
  Token token_{};
  std::string out_;
  std::string inflight_;
  size_t inflight_off_ = 0;
  bool send_inflight_ = false;
  bool can_send_ = true;  // false while an outgoing connection is still connecting
  bool dirty_ = false;
  bool closed_ = false;
  int64_t last_drain_ms_ = 0;
};

}  // namespace strata::proxy
