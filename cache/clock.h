// Injected clock: the cache and policies never read the time themselves, so tests can simulate it.
#pragma once

#include <atomic>
#include <cstdint>

namespace strata::cache {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ms() const = 0;  // Unix epoch milliseconds
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override;
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'000'000) : now_(start_ms) {}
  int64_t now_ms() const override { return now_.load(std::memory_order_relaxed); }
  void advance_ms(int64_t d) { now_.fetch_add(d, std::memory_order_relaxed); }
  void set_ms(int64_t t) { now_.store(t, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace strata::cache
