// Test-and-test-and-set spinlock guarding one shard. Critical sections are a hash lookup and a
// memcpy, so spinning beats a futex; after kSpinsBeforeYield failed polls we yield, because on an
// oversubscribed machine the holder may have been preempted and spinning would only burn its slice.
#pragma once

#include <atomic>
#include <thread>

namespace strata::cache {

class SpinLock {
 public:
  void lock() noexcept {
    for (;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      int spins = 0;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < kSpinsBeforeYield) {
          cpu_relax();
        } else {
          spins = 0;
          std::this_thread::yield();
        }
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  static constexpr int kSpinsBeforeYield = 128;

  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
  }

  std::atomic<bool> locked_{false};
};

}  // namespace strata::cache
