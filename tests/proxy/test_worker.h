// A real Worker (listener on a free port, io_uring or epoll) whose loop the test turns by
// hand, so components that live on a worker (PgPool, Journal) run exactly as in strata.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "cache/clock.h"
#include "cache/store.h"
#include "proxy/options.h"
#include "proxy/server_stats.h"
#include "proxy/worker.h"

namespace strata::proxy::testing {

class TestWorker {
 public:
  explicit TestWorker(bool epoll) : store_(cache::StoreConfig{}, &clock_) {
    options_.port = 0;
    options_.io = epoll ? "epoll" : "uring";
    options_.tick_ms = 5;
    shared_.options = &options_;
    shared_.store = &store_;
    shared_.stats = &stats_;
    shared_.start_ms = 0;
    worker_ = std::make_unique<Worker>(0, &shared_);
    shared_.workers.push_back(worker_.get());
    std::string note;
    ok_ = worker_->init(&error_, &note);
  }

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  Worker* worker() { return worker_.get(); }

  // Turns the loop until `done` or `timeout_ms`; `each` runs after every turn (e.g. a flush or
  // a component's on_tick). True if `done`.
  bool run_until(const std::function<bool()>& done, int64_t timeout_ms,
                 const std::function<void()>& each = {}) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      worker_->driver().run_once();
      if (each) each();
    }
    return true;
  }

 private:
  cache::SystemClock clock_;
  cache::Store store_;
  Options options_;
  ServerStats stats_;
  Shared shared_{};
  std::unique_ptr<Worker> worker_;
  std::string error_;
  bool ok_ = false;
};

}  // namespace strata::proxy::testing
