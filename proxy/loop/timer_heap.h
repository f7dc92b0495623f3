// One-shot timers of one loop, keyed by loop time (Loop::now_ms): a binary min-heap of
// deadlines. The loop waits no longer than the earliest deadline (IoDriver::run_once's bound)
// and runs what is due after each wait, so a part can wait a few milliseconds for something
// without polling from the tick. Single-threaded, like everything a loop owns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

namespace strata::proxy {

class TimerHeap {
 public:
  // Timers armed at once; past it add() refuses (the caller falls back to what it would do
  // without waiting).
  static constexpr size_t kTimersMax = 1 << 16;
  using Id = uint64_t;  // 0: none
  using Callback = std::move_only_function<void()>;

  // Arms a timer for deadline_ms; 0 when kTimersMax are armed.
  Id add(int64_t deadline_ms, Callback cb);
  // False when the timer already ran or was cancelled.
  bool cancel(Id id);
  // Milliseconds until the earliest armed deadline (0: due now), or -1 with none armed.
  int64_t wait_ms(int64_t now_ms);
  // Runs every timer due at now_ms, earliest first (ties in arming order). A callback may arm
  // or cancel timers; one armed due now runs in this call too. Returns how many ran.
  size_t run_due(int64_t now_ms);
  size_t armed() const { return callbacks_.size(); }

 private:
  struct Slot {
    int64_t deadline_ms;
    Id id;
    // The heap orders by deadline, then by arming order (ids increase).
    bool after(const Slot& o) const {
      return deadline_ms != o.deadline_ms ? deadline_ms > o.deadline_ms : id > o.id;
    }
  };
  void drop_cancelled_top();
  void compact();

  std::vector<Slot> heap_;  // cancelled timers stay until they reach the top or a compaction
  std::unordered_map<Id, Callback> callbacks_;
  Id next_id_ = 1;
};

}  // namespace strata::proxy
