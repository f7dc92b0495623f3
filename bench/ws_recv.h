// The receiving side of strata-bench ws fan-out: how its one thread reads its N WebSocket
// connections. Two ways, so what the load generator costs per delivery can be compared:
//   epoll: level-triggered epoll_wait, then recv() on each ready socket until EAGAIN (a
//          syscall per readiness plus one that finds nothing, and each socket polled again by
//          the next epoll_wait);
//   uring: io_uring with DEFER_TASKRUN, a multishot recv per socket into a provided-buffer
//          ring: one io_uring_enter hands over a batch of receipts, no syscall per socket.
// Both read after wait() returns: the caller times the batch between the two calls.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace strata::bench {

class WsReceiver {
 public:
  // index: the socket's position in the vector given at construction; the bytes are valid
  // only during the call.
  using OnBytes = std::function<void(size_t index, std::string_view bytes)>;
  virtual ~WsReceiver() = default;
  // Blocks until bytes are ready or timeout_ms passed.
  virtual void wait(int timeout_ms) = 0;
  // Reads what wait() found ready, handing each read to on_bytes.
  virtual void drain(const OnBytes& on_bytes) = 0;
};

// The sockets are connected and upgraded; each receiver sets the blocking mode it needs.
std::unique_ptr<WsReceiver> make_epoll_receiver(const std::vector<int>& fds);
// Null with *err when io_uring (multishot recv, buffer rings) is refused here.
std::unique_ptr<WsReceiver> make_uring_receiver(const std::vector<int>& fds, std::string* err);

}  // namespace strata::bench
