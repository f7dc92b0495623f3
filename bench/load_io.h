// The load generator's I/O backends: io_uring (the default) and an epoll fallback for where
// io_uring is refused (seccomp, memlock limits). Both present the same completion model --
// queue a send or a recv for a connection slot, then wait for completions -- so the
// connection logic in load_worker.cc is written once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

namespace strata::bench {

enum class IoKind : uint8_t { kAuto, kUring, kEpoll };
enum class IoOp : uint8_t { kSend = 0, kRecv = 1 };

struct IoCompletion {
  uint32_t slot;
  IoOp op;
  int res;  // bytes, 0 = peer closed (recv), or -errno
};

class LoadIo {
 public:
  virtual ~LoadIo() = default;
  // At most one send and one recv may be queued per slot at a time; buffers stay valid until
  // their completion.
  virtual void send(uint32_t slot, int fd, const char* buf, size_t len) = 0;
  virtual void recv(uint32_t slot, int fd, char* buf, size_t len) = 0;
  // Submits what was queued, blocks for at least one completion, appends all available.
  virtual std::expected<void, std::string> wait(std::vector<IoCompletion>& out) = 0;
  virtual const char* name() const = 0;
};

// kAuto tries io_uring first and falls back to epoll; `note` then says why.
std::expected<std::unique_ptr<LoadIo>, std::string> make_load_io(IoKind kind, uint32_t slots,
                                                                 std::string& note);

}  // namespace strata::bench
