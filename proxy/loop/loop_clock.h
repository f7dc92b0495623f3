// The L1 store's clock in the server. A worker thread reads the time its event loop took when
// it last woke up (as Redis caches the time per event-loop turn), instead of a clock_gettime per
// command; any other thread (main, tests) reads the system clock.
#pragma once

#include <cstdint>

#include "cache/clock.h"

namespace strata::proxy {

class LoopClock final : public cache::Clock {
 public:
  int64_t now_ms() const override;
  // Called by a worker each time its loop wakes, before it handles anything.
  static void set_thread_now(int64_t now_ms);
};

}  // namespace strata::proxy
