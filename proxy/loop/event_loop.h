// One worker's event loop, as the parts living on it see it: the I/O driver, the time the loop
// woke at, and the slot table of endpoints (sockets) named by Token. This is the narrow
// interface the rooms above get instead of the whole Worker: an upstream connection, a
// PostgreSQL connection or a journal segment needs the loop, not the server.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/loop/endpoint.h"
#include "proxy/loop/io_driver.h"
#include "proxy/loop/timer_heap.h"

namespace strata::proxy {

// What the owner of a loop (the worker) adds to it.
class LoopOwner {
 public:
  virtual ~LoopOwner() = default;
  virtual void on_accept(int fd, uint32_t listener) = 0;
  // Every driver tick (tick_ms), after the clock was refreshed.
  virtual void on_tick(int64_t now_ms) = 0;
  // After the completions of one iteration were dispatched, before output is flushed.
  virtual void end_of_iteration(int64_t now_ms) = 0;
  // Another thread called wake() (work waits in a queue of the owner's).
  virtual void on_wake() {}
  // The loop woke (clock refreshed), before this iteration's completions are dispatched: work
  // other threads queued without waking it is taken here, ahead of the requests it reads now.
  virtual void start_of_iteration() {}
};

class Loop final : public IoHandler {
 public:
  Loop(uint32_t index, LoopOwner* owner);
  ~Loop() override;

  // Creates the driver (io_uring, or epoll where refused; *note says why). False with *err when
  // io_uring was required and refused.
  bool init(const DriverOptions& opts, bool require_uring, std::string* err, std::string* note);
  // Turns until `stop`; then closes every endpoint.
  void run(const std::atomic<bool>& stop) noexcept;
  // One iteration: wait, dispatch, end of iteration, flush, release (tests turn loops by hand).
  void run_once();
  void wake();  // thread-safe

  // Registers an endpoint and returns its token.
  Token adopt(std::unique_ptr<Endpoint> e);
  Endpoint* lookup(Token t) const;
  void mark_dirty(Endpoint* e) { dirty_.push_back(e); }
  void release_later(Endpoint* e) { to_release_.push_back(e); }
  // Calls on_tick(now) on every open endpoint (housekeeping: idle and stall limits, timeouts).
  void tick_endpoints(int64_t now_ms);
  // Closes every endpoint (shutdown, or the owner going away).
  void close_all();

  // One-shot timers on loop time: the loop waits no longer than the earliest one and runs the
  // due ones after dispatching completions, before end_of_iteration.
  TimerHeap& timers() { return timers_; }
  IoDriver& driver() { return *driver_; }
  const DriverFeatures& features() const { return driver_->features(); }
  int64_t now_ms() const { return now_ms_; }
  // Counts run_once calls: a part that does bounded work per iteration tells them apart.
  uint64_t iteration() const { return iteration_; }
  uint32_t index() const { return index_; }
  // Reads the wall clock into now_ms() (and the thread's LoopClock).
  void refresh_clock();

  // IoHandler.
  void on_accept(int fd, uint32_t listener) override { owner_->on_accept(fd, listener); }
  void on_recv(Token t, const char* data, long n) override;
  void on_sent(Token t, long res) override;
  void on_connected(Token t, int res) override;
  void on_tick() override;
  void on_wake() override { owner_->on_wake(); }
  void on_wakeup() override {
    refresh_clock();
    owner_->start_of_iteration();
  }
  void on_poll(Token t, int res) override;
  void on_file_done(Token t, long res) override;

 private:
  void flush_dirty();
  void release_closed();

  uint32_t index_;
  LoopOwner* owner_;
  std::unique_ptr<IoDriver> driver_;
  TimerHeap timers_;
  int64_t now_ms_ = 0;
  uint64_t iteration_ = 0;
  std::vector<std::unique_ptr<Endpoint>> slots_;
  std::vector<uint32_t> gens_;
  std::vector<uint32_t> free_slots_;
  std::vector<Endpoint*> dirty_;
  std::vector<Endpoint*> to_release_;
};

// An accepted socket, admitted if fewer than `max` are live: TCP_NODELAY set, true. Else
// `refusal` is sent (best effort, never blocking), the socket closed, false.
bool admit_accepted(int fd, uint64_t live, uint64_t max, std::string_view refusal);

// Creates a listening socket with SO_REUSEPORT; -1 and *err on failure.
int make_listener(const std::string& bind, uint16_t port, std::string* err);

}  // namespace strata::proxy
