// A real event loop (io_uring or epoll) whose iterations the test turns by hand, so components
// that live on a loop (PgPool, Journal) run exactly as in strata, without a worker or server:
// they only know the loop (proxy/loop/event_loop.h).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "proxy/loop/event_loop.h"

namespace strata::proxy::testing {

class TestLoop final : public LoopOwner {
 public:
  explicit TestLoop(bool epoll) : loop_(0, this) {
    DriverOptions d;
    d.tick_ms = 5;
    d.force_epoll = epoll;
    std::string note;
    ok_ = loop_.init(d, !epoll, &error_, &note);
  }
  ~TestLoop() override { loop_.close_all(); }

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  Loop* loop() { return &loop_; }

  // Turns the loop until `done` or `timeout_ms`, one whole iteration at a time (events, then
  // output flushed), as a worker does; `each` runs after every turn (e.g. a component's flush or
  // on_tick). True if `done`.
  bool run_until(const std::function<bool()>& done, int64_t timeout_ms,
                 const std::function<void()>& each = {}) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      loop_.run_once();
      if (each) each();
    }
    return true;
  }

  // LoopOwner: a test loop accepts nothing and has no housekeeping of its own.
  void on_accept(int /*fd*/, uint32_t /*listener*/) override {}
  void on_tick(int64_t /*now_ms*/) override {}
  void end_of_iteration(int64_t /*now_ms*/) override {}

 private:
  Loop loop_;
  std::string error_;
  bool ok_ = false;
};

}  // namespace strata::proxy::testing
