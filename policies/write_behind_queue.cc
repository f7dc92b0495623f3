// One node per pending key in a hash map; each holds at most one write in flight and one
// waiting. Order is a sequence number taken at push: `ready_` holds the waiting writes a batch
// may take (key not in flight) by sequence, `held_ms_` every held write, for the oldest age.
// Both are ordered maps, so every operation is O(log n) in the keys pending.
#include "policies/write_behind_queue.h"

#include <functional>
#include <map>
#include <unordered_map>
#include <utility>

namespace strata::policies {
namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

uint64_t held_bytes(const PendingWrite& w) { return w.key.size() + w.value.size(); }

void release(uint64_t segment, std::vector<uint64_t>* released) {
  if (segment != 0 && released != nullptr) released->push_back(segment);
}

}  // namespace

struct WriteBehindQueue::Impl {
  struct Node {
    std::optional<PendingWrite> flight;  // handed out by take_batch, not settled
    std::optional<PendingWrite> wait;    // the newest write not handed out
    uint64_t flight_seq = 0;
    uint64_t wait_seq = 0;
  };
  using Keys = std::unordered_map<std::string, Node, StringHash, std::equal_to<>>;

  explicit Impl(Limits l) : limits(l) {}

  void hold(uint64_t seq, const PendingWrite& w) {
    held_ms.emplace(seq, w.enqueued_ms);
    bytes += held_bytes(w);
  }
  void unhold(uint64_t seq, const PendingWrite& w) {
    held_ms.erase(seq);
    bytes -= held_bytes(w);
  }
  // Settles the write in flight: the waiting successor (if any) becomes eligible, else the key
  // leaves the queue.
  void drop_flight(Keys::iterator it) {
    Node& n = it->second;
    unhold(n.flight_seq, *n.flight);
    n.flight.reset();
    --in_flight;
    if (n.wait) {
      ready.emplace(n.wait_seq, &n);
    } else {
      keys.erase(it);
    }
  }
  Keys::iterator find_flight(std::string_view key, uint64_t version) {
    auto it = keys.find(key);
    if (it == keys.end() || !it->second.flight || it->second.flight->version != version) {
      return keys.end();
    }
    return it;
  }

  Limits limits;
  Keys keys;
  std::map<uint64_t, Node*> ready;
  std::map<uint64_t, int64_t> held_ms;
  uint64_t next_seq = 1;
  size_t waiting = 0;
  size_t in_flight = 0;
  uint64_t bytes = 0;
};

WriteBehindQueue::WriteBehindQueue(Limits limits) : impl_(new Impl(limits)) {}
WriteBehindQueue::~WriteBehindQueue() { delete impl_; }
WriteBehindQueue::WriteBehindQueue(WriteBehindQueue&& other) noexcept
    : impl_(std::exchange(other.impl_, nullptr)) {}
WriteBehindQueue& WriteBehindQueue::operator=(WriteBehindQueue&& other) noexcept {
  if (this != &other) {
    delete impl_;
    impl_ = std::exchange(other.impl_, nullptr);
  }
  return *this;
}

void WriteBehindQueue::set_limits(Limits limits) { impl_->limits = limits; }
const WriteBehindQueue::Limits& WriteBehindQueue::limits() const { return impl_->limits; }

bool WriteBehindQueue::has_room() const {
  return impl_->keys.size() < impl_->limits.max_queue_depth;
}

void WriteBehindQueue::push(PendingWrite w, std::vector<uint64_t>* released) {
  Impl& q = *impl_;
  auto it = q.keys.find(w.key);
  if (it == q.keys.end()) {
    const uint64_t seq = q.next_seq++;
    Impl::Node& n = q.keys.try_emplace(w.key).first->second;
    q.hold(seq, w);
    n.wait = std::move(w);
    n.wait_seq = seq;
    q.ready.emplace(seq, &n);
    ++q.waiting;
    return;
  }
  Impl::Node& n = it->second;
  if (n.wait) {
    if (w.version <= n.wait->version) return release(w.segment, released);
    release(n.wait->segment, released);
    q.bytes -= held_bytes(*n.wait);
    q.bytes += held_bytes(w);
    w.enqueued_ms = n.wait->enqueued_ms;  // dirty since the first write: keeps its place
    n.wait = std::move(w);
    return;
  }
  // In flight only: the write becomes the one waiting successor, not eligible until settled.
  if (w.version <= n.flight->version) return release(w.segment, released);
  const uint64_t seq = q.next_seq++;
  q.hold(seq, w);
  n.wait = std::move(w);
  n.wait_seq = seq;
  ++q.waiting;
}

const PendingWrite* WriteBehindQueue::find(std::string_view key) const {
  auto it = impl_->keys.find(key);
  if (it == impl_->keys.end()) return nullptr;
  const Impl::Node& n = it->second;
  if (n.wait) return &*n.wait;
  return n.flight ? &*n.flight : nullptr;
}

bool WriteBehindQueue::due(int64_t now_ms, bool force) const {
  const Impl& q = *impl_;
  if (q.ready.empty()) return false;
  if (force || q.ready.size() >= q.limits.max_batch) return true;
  const int64_t oldest = q.ready.begin()->second->wait->enqueued_ms;
  return now_ms - oldest >= static_cast<int64_t>(q.limits.flush_interval_ms);
}

size_t WriteBehindQueue::take_batch(int64_t now_ms, bool force, std::vector<PendingWrite>* out) {
  Impl& q = *impl_;
  out->clear();
  if (!due(now_ms, force)) return 0;
  const size_t max = q.limits.max_batch == 0 ? 1 : q.limits.max_batch;
  while (!q.ready.empty() && out->size() < max) {
    auto first = q.ready.begin();
    Impl::Node& n = *first->second;
    n.flight_seq = first->first;
    q.ready.erase(first);
    n.flight = std::move(n.wait);
    n.wait.reset();
    --q.waiting;
    ++q.in_flight;
    out->push_back(*n.flight);
  }
  return out->size();
}

void WriteBehindQueue::committed(std::string_view key, uint64_t version,
                                 std::vector<uint64_t>* released) {
  Impl& q = *impl_;
  auto it = q.find_flight(key, version);
  if (it == q.keys.end()) return;
  release(it->second.flight->segment, released);
  q.drop_flight(it);
}

void WriteBehindQueue::failed(std::string_view key, uint64_t version,
                              std::vector<uint64_t>* released) {
  Impl& q = *impl_;
  auto it = q.find_flight(key, version);
  if (it == q.keys.end()) return;
  Impl::Node& n = it->second;
  if (n.wait) {
    // Superseded: the successor carries the newer value and takes the failed write's place.
    release(n.flight->segment, released);
    const uint64_t seq = n.flight_seq;
    const int64_t ms = n.flight->enqueued_ms;
    q.unhold(n.flight_seq, *n.flight);
    n.flight.reset();
    --q.in_flight;
    q.held_ms.erase(n.wait_seq);
    n.wait_seq = seq;
    n.wait->enqueued_ms = ms;
    q.held_ms.emplace(seq, ms);
    q.ready.emplace(seq, &n);
    return;
  }
  n.wait = std::move(n.flight);
  n.flight.reset();
  n.wait_seq = n.flight_seq;
  --q.in_flight;
  ++q.waiting;
  q.ready.emplace(n.wait_seq, &n);
}

std::optional<PendingWrite> WriteBehindQueue::rejected(std::string_view key, uint64_t version) {
  Impl& q = *impl_;
  auto it = q.find_flight(key, version);
  if (it == q.keys.end()) return std::nullopt;
  PendingWrite w = *it->second.flight;
  q.drop_flight(it);
  return w;
}

size_t WriteBehindQueue::depth() const { return impl_->keys.size(); }
size_t WriteBehindQueue::waiting() const { return impl_->waiting; }
size_t WriteBehindQueue::in_flight() const { return impl_->in_flight; }
uint64_t WriteBehindQueue::bytes() const { return impl_->bytes; }
int64_t WriteBehindQueue::oldest_enqueued_ms() const {
  return impl_->held_ms.empty() ? 0 : impl_->held_ms.begin()->second;
}

void DeadLetterList::add(Item item, std::vector<uint64_t>* released) {
  items_.push_back(std::move(item));
  while (items_.size() > max_) {
    release(items_.front().write.segment, released);
    items_.pop_front();
  }
}

std::vector<DeadLetterList::Item> DeadLetterList::take(std::string_view key) {
  std::vector<Item> out;
  std::deque<Item> keep;
  for (auto& item : items_) {
    if (key.empty() || item.write.key == key) {
      out.push_back(std::move(item));
    } else {
      keep.push_back(std::move(item));
    }
  }
  items_ = std::move(keep);
  return out;
}

}  // namespace strata::policies
