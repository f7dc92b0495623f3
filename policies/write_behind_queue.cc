// One table slot per pending key (open addressing, linear probing, the key's hash computed once
// per operation and kept in the slot); the key's writes -- at most one in flight and one
// waiting -- are one allocation each (header, key, value), rewritten in place when a write
// coalesces into one that has room. Two intrusive lists, both in sequence (arrival) order:
// `held` holds every pending write (its head is the oldest, for oldest_enqueued_ms), `ready`
// the waiting writes a batch may take (key not in flight). Pushing, taking and committing are
// O(1); a write that becomes eligible again (its key's flight settled, or its own flush
// failed) is put back in order by walking `held` back to the nearest ready write, past the
// writes in flight and their successors only.
#include "policies/write_behind_queue.h"

#include <cstring>
#include <functional>
#include <new>
#include <utility>

namespace strata::policies {
namespace {

constexpr size_t kSlotsMin = 16;
// A drained table bigger than this goes back to kSlotsMin: a burst does not pin its memory.
constexpr size_t kSlotsKeptWhenEmpty = 1024;
// Write buffers are rounded up to this, so a value a little longer than the one it replaces
// usually still fits in place.
constexpr size_t kWriteBytesAlign = 32;

void release(uint64_t segment, std::vector<uint64_t>* released) {
  if (segment != 0 && released != nullptr) released->push_back(segment);
}

uint64_t hash_key(std::string_view key) { return std::hash<std::string_view>{}(key); }

}  // namespace

PendingWrite WriteView::to_owned() const {
  return PendingWrite{std::string(key), std::string(value), version, is_delete,
                      segment,          enqueued_ms};
}

WriteView view_of(const PendingWrite& w) {
  return WriteView{w.key, w.value, w.version, w.is_delete, w.segment, w.enqueued_ms};
}

struct WriteBehindQueue::Impl {
  struct Node;
  // One pending write: this header, then `capacity` bytes holding the key and the value.
  struct Write {
    Write* prev = nullptr;  // held list
    Write* next = nullptr;
    Write* rprev = nullptr;  // ready list, while `ready`
    Write* rnext = nullptr;
    Node* node = nullptr;  // the key's table slot
    uint64_t seq = 0;
    uint64_t version = 0;
    uint64_t segment = 0;
    int64_t enqueued_ms = 0;
    uint32_t key_len = 0;
    uint32_t value_len = 0;
    uint32_t capacity = 0;
    bool is_delete = false;
    bool ready = false;

    char* data() { return reinterpret_cast<char*>(this + 1); }
    const char* data() const { return reinterpret_cast<const char*>(this + 1); }
    std::string_view key() const { return {data(), key_len}; }
    std::string_view value() const { return {data() + key_len, value_len}; }
    uint64_t held_bytes() const { return uint64_t{key_len} + value_len; }
    WriteView view() const {
      return WriteView{key(), value(), version, is_delete, segment, enqueued_ms};
    }
  };
  // A table slot: the key's write in flight and its waiting one (neither: the slot is empty).
  struct Node {
    uint64_t hash = 0;
    Write* flight = nullptr;
    Write* wait = nullptr;
    bool empty() const { return flight == nullptr && wait == nullptr; }
    const Write* newest() const { return wait != nullptr ? wait : flight; }
  };

  explicit Impl(Limits l) : limits(l), slots(kSlotsMin) {}
  ~Impl() {
    for (Write* w = head; w != nullptr;) free_write(std::exchange(w, w->next));
  }

  // ---- writes ----

  static void fill(Write* x, const WriteView& w) {
    x->key_len = static_cast<uint32_t>(w.key.size());
    x->value_len = static_cast<uint32_t>(w.value.size());
    std::memcpy(x->data(), w.key.data(), w.key.size());
    if (!w.value.empty()) std::memcpy(x->data() + w.key.size(), w.value.data(), w.value.size());
    x->version = w.version;
    x->segment = w.segment;
    x->is_delete = w.is_delete;
  }
  static Write* new_write(const WriteView& w, Node* node) {
    const size_t need = w.key.size() + w.value.size();
    const size_t cap = (need + kWriteBytesAlign - 1) / kWriteBytesAlign * kWriteBytesAlign;
    Write* x = new (::operator new(sizeof(Write) + cap)) Write;
    x->capacity = static_cast<uint32_t>(cap);
    x->node = node;
    x->enqueued_ms = w.enqueued_ms;
    fill(x, w);
    return x;
  }
  static void free_write(Write* x) {
    x->~Write();
    ::operator delete(x);
  }
  // The waiting write `old` takes the bytes of the newer `w`, keeping its place and age.
  Write* rewrite(Write* old, const WriteView& w) {
    bytes -= old->held_bytes();
    bytes += w.key.size() + w.value.size();
    if (old->capacity >= w.key.size() + w.value.size()) {
      fill(old, w);
      return old;
    }
    Write* x = new_write(w, old->node);
    x->seq = old->seq;
    x->enqueued_ms = old->enqueued_ms;
    held_replace(old, x);
    if (old->ready) ready_replace(old, x);
    free_write(old);
    return x;
  }
  // A new write at the end of the held list.
  void hold(Write* x) {
    x->seq = next_seq++;
    bytes += x->held_bytes();
    x->prev = tail;
    x->next = nullptr;
    (tail != nullptr ? tail->next : head) = x;
    tail = x;
  }

  // ---- held list ----

  void held_unlink(Write* x) {
    (x->prev != nullptr ? x->prev->next : head) = x->next;
    (x->next != nullptr ? x->next->prev : tail) = x->prev;
  }
  void held_replace(Write* old, Write* x) {  // x (not linked) takes old's place
    x->prev = old->prev;
    x->next = old->next;
    (x->prev != nullptr ? x->prev->next : head) = x;
    (x->next != nullptr ? x->next->prev : tail) = x;
  }

  // ---- ready list ----

  void ready_link_after(Write* p, Write* x) {  // p null: at the front
    x->rprev = p;
    x->rnext = p != nullptr ? p->rnext : rhead;
    (x->rnext != nullptr ? x->rnext->rprev : rtail) = x;
    (p != nullptr ? p->rnext : rhead) = x;
    x->ready = true;
    ++ready_count;
  }
  void ready_unlink(Write* x) {
    (x->rprev != nullptr ? x->rprev->rnext : rhead) = x->rnext;
    (x->rnext != nullptr ? x->rnext->rprev : rtail) = x->rprev;
    x->ready = false;
    --ready_count;
  }
  void ready_replace(Write* old, Write* x) {
    x->rprev = old->rprev;
    x->rnext = old->rnext;
    (x->rprev != nullptr ? x->rprev->rnext : rhead) = x;
    (x->rnext != nullptr ? x->rnext->rprev : rtail) = x;
    x->ready = true;
  }
  // x (held, not ready) becomes ready in sequence order: after the nearest ready write before
  // it in the held list.
  void ready_insert_in_order(Write* x) {
    Write* p = x->prev;
    while (p != nullptr && !p->ready) p = p->prev;
    ready_link_after(p, x);
  }

  // ---- table ----

  size_t mask() const { return slots.size() - 1; }
  static constexpr size_t kNone = ~size_t{0};
  size_t find_slot(std::string_view key, uint64_t h) const {
    for (size_t i = h & mask();; i = (i + 1) & mask()) {
      const Node& n = slots[i];
      if (n.empty()) return kNone;
      if (n.hash == h && n.newest()->key() == key) return i;
    }
  }
  // Puts `n` in slot i and points its writes at it (slots move on growth and deletion).
  void place(size_t i, const Node& n) {
    slots[i] = n;
    if (n.flight != nullptr) n.flight->node = &slots[i];
    if (n.wait != nullptr) n.wait->node = &slots[i];
  }
  size_t free_slot(uint64_t h) const {
    size_t i = h & mask();
    while (!slots[i].empty()) i = (i + 1) & mask();
    return i;
  }
  // A slot for a new key (at most half the slots are used).
  Node* claim(uint64_t h) {
    if ((used + 1) * 2 > slots.size()) resize(slots.size() * 2);
    const size_t i = free_slot(h);
    slots[i].hash = h;
    ++used;
    return &slots[i];
  }
  void resize(size_t n) {
    std::vector<Node> old = std::exchange(slots, std::vector<Node>(n));
    for (const Node& s : old) {
      if (!s.empty()) place(free_slot(s.hash), s);
    }
  }
  // Backward-shift deletion: later slots of the probe run move up, so lookups never need
  // tombstones.
  void erase_slot(size_t hole) {
    for (size_t j = (hole + 1) & mask(); !slots[j].empty(); j = (j + 1) & mask()) {
      const size_t home = slots[j].hash & mask();
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      place(hole, slots[j]);
      hole = j;
    }
    slots[hole] = Node{};
    --used;
    if (used == 0 && slots.size() > kSlotsKeptWhenEmpty) slots = std::vector<Node>(kSlotsMin);
  }
  size_t find_flight(std::string_view key, uint64_t version) const {
    const size_t i = find_slot(key, hash_key(key));
    if (i == kNone || slots[i].flight == nullptr || slots[i].flight->version != version) {
      return kNone;
    }
    return i;
  }
  // Settles slot i's write in flight: the waiting successor (if any) becomes eligible, else
  // the key leaves the queue.
  void drop_flight(size_t i) {
    Node& n = slots[i];
    Write* f = std::exchange(n.flight, nullptr);
    bytes -= f->held_bytes();
    held_unlink(f);
    free_write(f);
    --in_flight;
    if (n.wait != nullptr) {
      ready_insert_in_order(n.wait);
    } else {
      erase_slot(i);
    }
  }

  Limits limits;
  std::vector<Node> slots;  // size a power of two
  size_t used = 0;
  Write* head = nullptr;  // held list: oldest first
  Write* tail = nullptr;
  Write* rhead = nullptr;  // ready list: oldest first
  Write* rtail = nullptr;
  size_t ready_count = 0;
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

bool WriteBehindQueue::has_room() const { return impl_->used < impl_->limits.max_queue_depth; }

void WriteBehindQueue::push(const WriteView& w, std::vector<uint64_t>* released) {
  Impl& q = *impl_;
  const uint64_t h = hash_key(w.key);
  const size_t i = q.find_slot(w.key, h);
  if (i == Impl::kNone) {
    Impl::Node* n = q.claim(h);
    n->wait = Impl::new_write(w, n);
    q.hold(n->wait);
    q.ready_link_after(q.rtail, n->wait);
    ++q.waiting;
    return;
  }
  Impl::Node& n = q.slots[i];
  if (n.wait != nullptr) {
    if (w.version <= n.wait->version) return release(w.segment, released);
    release(n.wait->segment, released);
    n.wait = q.rewrite(n.wait, w);  // dirty since the first write: keeps its place and age
    return;
  }
  // In flight only: the write becomes the one waiting successor, not eligible until settled.
  if (w.version <= n.flight->version) return release(w.segment, released);
  n.wait = Impl::new_write(w, &n);
  q.hold(n.wait);
  ++q.waiting;
}

std::optional<WriteView> WriteBehindQueue::find(std::string_view key) const {
  const size_t i = impl_->find_slot(key, hash_key(key));
  if (i == Impl::kNone) return std::nullopt;
  return impl_->slots[i].newest()->view();
}

void WriteBehindQueue::collect(std::string_view prefix, std::vector<PendingWrite>* out) const {
  for (const Impl::Node& n : impl_->slots) {
    if (n.empty()) continue;
    const Impl::Write* w = n.newest();
    if (w->key().starts_with(prefix)) out->push_back(w->view().to_owned());
  }
}

bool WriteBehindQueue::due(int64_t now_ms, bool force) const {
  const Impl& q = *impl_;
  if (q.rhead == nullptr) return false;
  if (force || q.ready_count >= q.limits.max_batch) return true;
  return now_ms - q.rhead->enqueued_ms >= static_cast<int64_t>(q.limits.flush_interval_ms);
}

size_t WriteBehindQueue::take_batch(int64_t now_ms, bool force, WriteBatch* out) {
  Impl& q = *impl_;
  out->clear();
  if (!due(now_ms, force)) return 0;
  const size_t max = q.limits.max_batch == 0 ? 1 : q.limits.max_batch;
  size_t n = 0, total = 0;
  for (const Impl::Write* x = q.rhead; x != nullptr && n < max; x = x->rnext, ++n) {
    total += x->held_bytes();
  }
  // Reserved exactly: the views taken below never see the buffer move.
  out->bytes.reserve(total);
  out->writes.reserve(n);
  for (size_t k = 0; k < n; ++k) {
    Impl::Write* x = q.rhead;
    q.ready_unlink(x);
    x->node->flight = x;
    x->node->wait = nullptr;
    --q.waiting;
    ++q.in_flight;
    const size_t at = out->bytes.size();
    out->bytes.insert(out->bytes.end(), x->data(), x->data() + x->held_bytes());
    const char* p = out->bytes.data() + at;
    out->writes.push_back(WriteView{{p, x->key_len},
                                    {p + x->key_len, x->value_len},
                                    x->version,
                                    x->is_delete,
                                    x->segment,
                                    x->enqueued_ms});
  }
  return n;
}

void WriteBehindQueue::committed(std::string_view key, uint64_t version,
                                 std::vector<uint64_t>* released) {
  Impl& q = *impl_;
  const size_t i = q.find_flight(key, version);
  if (i == Impl::kNone) return;
  release(q.slots[i].flight->segment, released);
  q.drop_flight(i);
}

void WriteBehindQueue::failed(std::string_view key, uint64_t version,
                              std::vector<uint64_t>* released) {
  Impl& q = *impl_;
  const size_t i = q.find_flight(key, version);
  if (i == Impl::kNone) return;
  Impl::Node& n = q.slots[i];
  Impl::Write* f = std::exchange(n.flight, nullptr);
  --q.in_flight;
  if (n.wait != nullptr) {
    // Superseded: the successor carries the newer value and takes the failed write's place.
    Impl::Write* s = n.wait;
    release(f->segment, released);
    q.bytes -= f->held_bytes();
    q.held_unlink(s);
    q.held_replace(f, s);
    s->seq = f->seq;
    s->enqueued_ms = f->enqueued_ms;
    Impl::free_write(f);
    q.ready_insert_in_order(s);
    return;
  }
  n.wait = f;
  ++q.waiting;
  q.ready_insert_in_order(f);
}

std::optional<PendingWrite> WriteBehindQueue::rejected(std::string_view key, uint64_t version) {
  Impl& q = *impl_;
  const size_t i = q.find_flight(key, version);
  if (i == Impl::kNone) return std::nullopt;
  PendingWrite w = q.slots[i].flight->view().to_owned();
  q.drop_flight(i);
  return w;
}

size_t WriteBehindQueue::depth() const { return impl_->used; }
size_t WriteBehindQueue::waiting() const { return impl_->waiting; }
size_t WriteBehindQueue::in_flight() const { return impl_->in_flight; }
uint64_t WriteBehindQueue::bytes() const { return impl_->bytes; }
int64_t WriteBehindQueue::oldest_enqueued_ms() const {
  return impl_->head == nullptr ? 0 : impl_->head->enqueued_ms;
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
