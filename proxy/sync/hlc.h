// strata's one version space: a hybrid logical clock. A version is
//   wall milliseconds << 20 | counter (10 bits) << 10 | instance tiebreak (10 bits)
// so it orders by time first, stays strictly increasing within an instance even when many
// writes share a millisecond (the counter, borrowing the next millisecond past 1024), and two
// instances never mint the same version in the same millisecond unless their tiebreaks collide.
// The same number is the L1 entry's, PostgreSQL's version column, L2's version key and the sync
// events'. Versions minted before this clock (wall microseconds, ~1.7e15) are all smaller.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace strata::proxy {

class HybridClock {
 public:
  static constexpr int kCounterShift = 10;
  static constexpr int kWallShift = 20;
  static constexpr uint64_t kCounterMax = (1u << 10) - 1;
  static constexpr uint64_t kTiebreakMax = (1u << 10) - 1;

  explicit HybridClock(uint32_t tiebreak = 0) : tiebreak_(tiebreak & kTiebreakMax) {}
  void set_tiebreak(uint32_t t) { tiebreak_ = t & kTiebreakMax; }
  // Added to the wall clock (tests of skewed instances: --clock-offset-ms).
  void set_offset_ms(int64_t offset) { offset_ms_ = offset; }
  int64_t wall_now_ms() const;
  // A tiebreak from an instance name (its hash's low bits).
  static uint32_t tiebreak_of(std::string_view instance);

  // A version newer than every one this clock returned or observed. Thread-safe.
  uint64_t next();
  uint64_t next_at(int64_t wall_ms);  // the same with the wall clock given (tests)
  // Makes next() return more than `version` (a peer's, or the journal's newest at start).
  void observe(uint64_t version);
  void seed(uint64_t at_least) { observe(at_least); }

  static int64_t wall_ms_of(uint64_t version) {
    return static_cast<int64_t>(version >> kWallShift);
  }

 private:
  uint32_t tiebreak_;
  int64_t offset_ms_ = 0;
  std::atomic<uint64_t> last_{0};
};

}  // namespace strata::proxy
