#include "proxy/loop/timer_heap.h"

#include <algorithm>

namespace strata::proxy {
namespace {

auto heap_order() {
  return [](const auto& a, const auto& b) { return a.after(b); };
}

}  // namespace

TimerHeap::Id TimerHeap::add(int64_t deadline_ms, Callback cb) {
  if (callbacks_.size() >= kTimersMax) return 0;
  // Cancelled slots are dropped lazily; keep them from outnumbering the armed ones.
  if (heap_.size() >= 2 * kTimersMax) compact();
  const Id id = next_id_++;
  callbacks_.emplace(id, std::move(cb));
  heap_.push_back(Slot{deadline_ms, id});
  std::push_heap(heap_.begin(), heap_.end(), heap_order());
  return id;
}

bool TimerHeap::cancel(Id id) { return callbacks_.erase(id) > 0; }

void TimerHeap::drop_cancelled_top() {
  while (!heap_.empty() && !callbacks_.contains(heap_.front().id)) {
    std::pop_heap(heap_.begin(), heap_.end(), heap_order());
    heap_.pop_back();
  }
}

void TimerHeap::compact() {
  std::erase_if(heap_, [this](const Slot& s) { return !callbacks_.contains(s.id); });
  std::make_heap(heap_.begin(), heap_.end(), heap_order());
}

int64_t TimerHeap::wait_ms(int64_t now_ms) {
  drop_cancelled_top();
  if (heap_.empty()) return -1;
  return std::max<int64_t>(0, heap_.front().deadline_ms - now_ms);
}

size_t TimerHeap::run_due(int64_t now_ms) {
  size_t ran = 0;
  for (;;) {
    drop_cancelled_top();
    if (heap_.empty() || heap_.front().deadline_ms > now_ms) return ran;
    const Id id = heap_.front().id;
    std::pop_heap(heap_.begin(), heap_.end(), heap_order());
    heap_.pop_back();
    auto it = callbacks_.find(id);
    Callback cb = std::move(it->second);
    callbacks_.erase(it);
    cb();  // may add or cancel timers: nothing of the heap is held across the call
    ++ran;
  }
}

}  // namespace strata::proxy
