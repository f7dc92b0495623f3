#include "proxy/loop/event_loop.h"

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "proxy/loop/loop_clock.h"

namespace strata::proxy {
namespace {

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

Loop::Loop(uint32_t index, LoopOwner* owner) : index_(index), owner_(owner) {}

Loop::~Loop() {
  // Endpoints may still call back into the loop while they are destroyed (release_later).
  slots_.clear();
}

bool Loop::init(const DriverOptions& opts, bool require_uring, std::string* err,
                std::string* note) {
  refresh_clock();
  driver_ = make_driver(opts, this, note);
  if (require_uring && !driver_->features().io_uring) {
    *err = "io_uring was required (--io uring) but refused: " + *note;
    return false;
  }
  return true;
}

// Commands see the time the loop woke up at: a wait may have lasted up to a tick, so the time
// of the previous iteration would put TTLs given now (SET PX) that much early.
void Loop::refresh_clock() {
  now_ms_ = wall_ms();
  LoopClock::set_thread_now(now_ms_);
}

void Loop::run_once() {
  ++iteration_;
  driver_->run_once(static_cast<int>(std::min<int64_t>(timers_.wait_ms(now_ms_), INT32_MAX)));
  refresh_clock();
  timers_.run_due(now_ms_);
  owner_->end_of_iteration(now_ms_);
  flush_dirty();
  release_closed();
}

void Loop::run(const std::atomic<bool>& stop) noexcept {
  while (!stop.load(std::memory_order_relaxed)) run_once();
  // Shutdown: close every socket; a send still in flight is abandoned with the process.
  close_all();
}

void Loop::close_all() {
  for (auto& e : slots_) {
    if (e != nullptr && !e->closed()) e->close();
  }
}

void Loop::wake() {
  if (driver_) driver_->wake();
}

Token Loop::adopt(std::unique_ptr<Endpoint> e) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
    gens_.push_back(0);
  }
  gens_[slot] = (gens_[slot] + 1) & 0xffffff;
  e->token_ = Token{slot, gens_[slot]};
  e->last_drain_ms_ = now_ms_;
  slots_[slot] = std::move(e);
  return slots_[slot]->token_;
}

Endpoint* Loop::lookup(Token t) const {
  if (t.slot >= slots_.size() || gens_[t.slot] != t.gen) return nullptr;
  return slots_[t.slot].get();
}

void Loop::flush_dirty() {
  // flush() may not add to dirty_, but on_sent callbacks in a later iteration will.
  for (size_t i = 0; i < dirty_.size(); ++i) dirty_[i]->flush();
  dirty_.clear();
}

void Loop::release_closed() {
  for (Endpoint* e : to_release_) {
    const Token t = e->token_;
    if (lookup(t) != e) continue;  // released twice
    slots_[t.slot].reset();
    free_slots_.push_back(t.slot);
  }
  to_release_.clear();
}

void Loop::tick_endpoints(int64_t now_ms) {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i] != nullptr && !slots_[i]->closed()) slots_[i]->on_tick(now_ms);
  }
}

void Loop::on_recv(Token t, const char* data, long n) {
  if (Endpoint* e = lookup(t); e != nullptr && !e->closed()) e->on_recv(data, n);
}

void Loop::on_sent(Token t, long res) {
  if (Endpoint* e = lookup(t); e != nullptr) e->on_sent(res);
}

void Loop::on_connected(Token t, int res) {
  if (Endpoint* e = lookup(t); e != nullptr && !e->closed()) e->on_connected(res);
}

void Loop::on_poll(Token t, int res) {
  if (Endpoint* e = lookup(t); e != nullptr && !e->closed()) e->on_poll(res);
}

void Loop::on_file_done(Token t, long res) {
  if (Endpoint* e = lookup(t); e != nullptr) e->on_file_done(res);
}

void Loop::on_tick() {
  refresh_clock();
  owner_->on_tick(now_ms_);
}

}  // namespace strata::proxy
