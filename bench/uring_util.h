// io_uring pieces strata-bench's own loops share (floor_server.cc, ws_recv.cc).
#pragma once

#include <errno.h>
#include <liburing.h>
#include <sys/mman.h>

#include <cstdint>

namespace strata::bench {

// The next free SQE, submitting what is queued when the ring is full.
inline io_uring_sqe* next_sqe(io_uring* ring) {
  io_uring_sqe* s = io_uring_get_sqe(ring);
  while (s == nullptr) {
    io_uring_submit(ring);
    s = io_uring_get_sqe(ring);
  }
  return s;
}

// A multishot recv of fd into the provided buffers of `group`, completions carrying `data`.
inline void arm_recv_multishot(io_uring* ring, int fd, uint16_t group, uint64_t data) {
  io_uring_sqe* s = next_sqe(ring);
  io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = group;
  io_uring_sqe_set_data64(s, data);
}

// Hands buffer `id` (`bytes` at `at`) back to a buffer ring of `count` entries.
inline void recycle_buffer(io_uring_buf_ring* ring, char* at, unsigned bytes, unsigned id,
                           unsigned count) {
  io_uring_buf_ring_add(ring, at, bytes, static_cast<uint16_t>(id), io_uring_buf_ring_mask(count),
                        0);
  io_uring_buf_ring_advance(ring, 1);
}

// Maps a buffer ring of `count` entries and registers it as `group` (liburing 2.3, Debian 12's,
// has no io_uring_setup_buf_ring). Null on failure, with the negative errno in *err.
inline io_uring_buf_ring* register_buffer_ring(io_uring* ring, unsigned count, uint16_t group,
                                               int* err) {
  const size_t bytes = count * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    *err = -ENOMEM;
    return nullptr;
  }
  auto* bufs = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(bufs);
  reg.ring_entries = count;
  reg.bgid = group;
  if (int r = io_uring_register_buf_ring(ring, &reg, 0); r < 0) {
    munmap(mem, bytes);
    *err = r;
    return nullptr;
  }
  io_uring_buf_ring_init(bufs);
  return bufs;
}

}  // namespace strata::bench
