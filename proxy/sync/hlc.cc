#include "proxy/sync/hlc.h"

#include <chrono>

#include "cache/hash.h"

namespace strata::proxy {

uint32_t HybridClock::tiebreak_of(std::string_view instance) {
  return static_cast<uint32_t>(cache::hash_key(instance) & kTiebreakMax);
}

int64_t HybridClock::wall_now_ms() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() + offset_ms_;
}

uint64_t HybridClock::next() { return next_at(wall_now_ms()); }

uint64_t HybridClock::next_at(int64_t wall_ms) {
  const uint64_t now = wall_ms > 0 ? static_cast<uint64_t>(wall_ms) : 0;
  uint64_t prev = last_.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t prev_wall = prev >> kWallShift;
    const uint64_t prev_counter = (prev >> kCounterShift) & kCounterMax;
    uint64_t wall = now;
    uint64_t counter = 0;
    if (now <= prev_wall) {  // the same millisecond (or a clock that went back): count on
      wall = prev_wall;
      counter = prev_counter + 1;
      if (counter > kCounterMax) {  // 1024 in one millisecond: borrow the next one
        wall = prev_wall + 1;
        counter = 0;
      }
    }
    const uint64_t v = wall << kWallShift | counter << kCounterShift | tiebreak_;
    if (last_.compare_exchange_weak(prev, v, std::memory_order_relaxed)) return v;
  }
}

void HybridClock::observe(uint64_t version) {
  uint64_t prev = last_.load(std::memory_order_relaxed);
  while (prev < version && !last_.compare_exchange_weak(prev, version, std::memory_order_relaxed)) {
  }
}

}  // namespace strata::proxy
