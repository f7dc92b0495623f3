#include "proxy/ws/ws_hub.h"

#include <charconv>
#include <cstdio>

#include "protocol/ws_frame.h"
#include "protocol/ws_message.h"
#include "proxy/loop/event_loop.h"

namespace strata::proxy {

WsHub::WsHub(Limits limits, uint64_t epoch, uint32_t workers) : limits_(limits), epoch_(epoch) {
  readers_.resize(workers);
  for (auto& r : readers_) r = std::make_unique<Reader>();
}

std::string WsHub::epoch_text() const {
  char buf[20];
  const int n = std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(epoch_));
  return std::string(buf, static_cast<size_t>(n));
}

std::string WsHub::position(uint64_t seq) const {
  char buf[48];
  const int n = std::snprintf(buf, sizeof buf, "%016llx.%llu",
                              static_cast<unsigned long long>(epoch_),
                              static_cast<unsigned long long>(seq));
  return std::string(buf, static_cast<size_t>(n));
}

bool WsHub::own_position(std::string_view pos, uint64_t* seq) const {
  const size_t dot = pos.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= pos.size()) return false;
  uint64_t epoch = 0;
  auto [e_end, e_ec] = std::from_chars(pos.data(), pos.data() + dot, epoch, 16);
  if (e_ec != std::errc() || e_end != pos.data() + dot || epoch != epoch_) return false;
  auto [s_end, s_ec] = std::from_chars(pos.data() + dot + 1, pos.data() + pos.size(), *seq);
  return s_ec == std::errc() && s_end == pos.data() + pos.size();
}

void WsHub::add_interest(std::string_view s, bool prefix) {
  std::lock_guard g(interest_mu_);
  auto& map = prefix ? prefixes_ : keys_;
  auto it = map.find(s);
  if (it == map.end()) {
    it = map.emplace(std::string(s), Interest{}).first;
    if (prefix) prefix_lengths_.insert(s.size());
    interest_entries_.fetch_add(1, std::memory_order_release);
  }
  ++it->second.count;
}

void WsHub::drop_interest(std::string_view s, bool prefix, int64_t now_ms) {
  std::lock_guard g(interest_mu_);
  auto& map = prefix ? prefixes_ : keys_;
  auto it = map.find(s);
  if (it == map.end() || it->second.count == 0) return;
  if (--it->second.count == 0) it->second.linger_until_ms = now_ms + limits_.history_ms;
}

void WsHub::expire_interest(int64_t now_ms) {
  if (interest_entries_.load(std::memory_order_acquire) == 0) return;
  std::lock_guard g(interest_mu_);
  for (auto* map : {&keys_, &prefixes_}) {
    for (auto it = map->begin(); it != map->end();) {
      if (it->second.count == 0 && it->second.linger_until_ms <= now_ms) {
        if (map == &prefixes_) prefix_lengths_.erase(prefix_lengths_.find(it->first.size()));
        it = map->erase(it);
        interest_entries_.fetch_sub(1, std::memory_order_release);
      } else {
        ++it;
      }
    }
  }
}

bool WsHub::interested(std::string_view key) const {
  if (interest_entries_.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard g(interest_mu_);
  if (keys_.find(key) != keys_.end()) return true;
  size_t last = SIZE_MAX;
  for (size_t len : prefix_lengths_) {
    if (len == last) continue;
    last = len;
    if (len > key.size()) break;
    if (prefixes_.find(key.substr(0, len)) != prefixes_.end()) return true;
  }
  return false;
}

WsChangePtr WsHub::append(std::string_view key, bool is_delete, std::string_view value,
                          uint64_t version, int64_t now_ms) {
  if (!interested(key)) return nullptr;
  auto c = std::make_shared<WsChange>();
  c->at_ms = now_ms;
  c->version = version;
  c->is_delete = is_delete;
  c->key.assign(key);
  std::lock_guard g(mu_);
  c->seq = head_.load(std::memory_order_relaxed) + 1;
  // Composed under the lock: the position is part of the bytes. One change's JSON and frame.
  c->json = protocol::compose_ws_change(key, is_delete, value, version, position(c->seq));
  c->frame.reserve(c->json.size() + protocol::kWsServerHeaderBytesMax);
  protocol::append_ws_frame(&c->frame, protocol::WsOpcode::kText, c->json);
  history_.push_back(c);
  head_.store(c->seq, std::memory_order_release);
  changes_.fetch_add(1, std::memory_order_relaxed);
  trim(now_ms);
  return c;
}

void WsHub::trim(int64_t now_ms) {
  while (!history_.empty() &&
         (history_.size() > limits_.history_events ||
          history_.front()->at_ms + static_cast<int64_t>(limits_.history_ms) < now_ms)) {
    history_.pop_front();
  }
}

uint64_t WsHub::oldest() const {
  std::lock_guard g(mu_);
  return history_.empty() ? head_.load(std::memory_order_relaxed) + 1 : history_.front()->seq;
}

bool WsHub::read(uint64_t after, uint64_t upto, std::vector<WsChangePtr>* out) const {
  out->clear();
  if (upto <= after) return true;
  std::lock_guard g(mu_);
  if (history_.empty() || history_.front()->seq > after + 1) return false;
  // Seqs are consecutive in the history: index by offset.
  const uint64_t first = history_.front()->seq;
  const uint64_t last = std::min<uint64_t>(upto, history_.back()->seq);
  out->reserve(last - after);
  for (uint64_t s = after + 1; s <= last; ++s) out->push_back(history_[s - first]);
  return true;
}

// Before any worker runs (their init): the reader table itself never changes size after
// construction, so readers look it up without a lock.
void WsHub::attach(uint32_t worker, Loop* loop) {
  std::lock_guard g(readers_mu_);
  if (worker < readers_.size()) readers_[worker]->loop.store(loop, std::memory_order_release);
}

void WsHub::set_cursor(uint32_t worker, uint64_t seq, bool has_connections) {
  if (worker >= readers_.size()) return;
  Reader& r = *readers_[worker];
  r.cursor.store(seq, std::memory_order_release);
  r.active.store(has_connections, std::memory_order_release);
}

// A reader whose cursor is behind is woken once per append batch of another worker; its own
// appends it reads at the end of the iteration anyway.
void WsHub::wake_others(uint32_t from) {
  const uint64_t h = head();
  for (size_t i = 0; i < readers_.size(); ++i) {
    Reader* r = readers_[i].get();
    Loop* loop = r->loop.load(std::memory_order_acquire);
    if (i == from || loop == nullptr) continue;
    if (!r->active.load(std::memory_order_acquire)) continue;
    if (r->cursor.load(std::memory_order_acquire) >= h) continue;
    loop->wake();
  }
}

WsHub::Stats WsHub::stats() const {
  Stats s;
  s.changes = changes_.load(std::memory_order_relaxed);
  {
    std::lock_guard g(mu_);
    s.history = history_.size();
  }
  std::lock_guard g(interest_mu_);
  s.interest_keys = keys_.size();
  s.interest_prefixes = prefixes_.size();
  return s;
}

}  // namespace strata::proxy
