#include "proxy/loop/loop_clock.h"

namespace strata::proxy {
namespace {
thread_local int64_t t_loop_now_ms = 0;  // 0: this thread runs no event loop
}  // namespace

int64_t LoopClock::now_ms() const {
  if (t_loop_now_ms != 0) return t_loop_now_ms;
  return cache::SystemClock().now_ms();
}

void LoopClock::set_thread_now(int64_t now_ms) { t_loop_now_ms = now_ms; }

}  // namespace strata::proxy
