#include "cache/shard.h"

#include "cache/store.h"

#include <algorithm>

namespace strata::cache {
namespace {

uint32_t reverse_bits(uint32_t v) {
  v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);
  v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);
  v = ((v >> 4) & 0x0f0f0f0fu) | ((v & 0x0f0f0f0fu) << 4);
  return __builtin_bswap32(v);
}

}  // namespace

Shard::Shard(uint32_t index, uint32_t index_bits, uint64_t capacity_bytes,
             std::unique_ptr<EvictionPolicy> policy, RemovalObserver* observer)
    : index_(index),
      index_bits_(index_bits),
      capacity_(capacity_bytes),
      policy_(std::move(policy)),
      fixed_bytes_(kSlotBytes + kBucketBytes + attach_policy(policy_.get(), this)),
      buckets_(kInitialBuckets, kNoSlot),
      rng_(0x9e3779b97f4a7c15ull * (index + 1)),
      observer_(observer) {}

Shard::~Shard() { clear(); }

SlotId Shard::lookup(std::string_view key, uint64_t hash) const {
  for (SlotId s = buckets_[bucket_of(hash)]; s != kNoSlot; s = next_of(s)) {
    if (entry_at(s)->key_equals(key)) return s;
  }
  return kNoSlot;
}

void Shard::prefetch_lookup(uint64_t hash, int stage) const {
  const SlotId* head = &buckets_[bucket_of(hash)];
  if (stage == 0) return prefetch(head);
  const SlotId s = *head;
  if (s == kNoSlot) return;
  if (stage == 1) return prefetch(&slots_[s]);
  prefetch(entry_at(s));
}

bool Shard::get(std::string_view key, uint64_t hash, int64_t now_ms, bool count_hit,
                EntryView* out) {
  SlotId s = lookup(key, hash);
  if (s != kNoSlot && entry_at(s)->expired(now_ms)) {
    remove(s, hash, Removal::kExpire);
    s = kNoSlot;
  }
  if (s == kNoSlot) {
    if (count_hit) ++misses_;
    return false;
  }
  if (count_hit) ++hits_;
  if (policy_) policy_->on_hit(s);
  const Entry* e = entry_at(s);
  if (out != nullptr) *out = EntryView{e->key(), e->value(), e->expire_at_ms(), e->version()};
  return true;
}

uint64_t Shard::set(std::string_view key, uint64_t hash, std::string_view value,
                    int64_t expire_at_ms) {
  if (!leases_.empty()) drop_lease(key);
  const SlotId existing = lookup(key, hash);
  if (existing != kNoSlot && overwrite_in_place(existing, value, expire_at_ms)) {
    return entry_at(existing)->version();
  }
  Entry* fresh = Entry::create(key, value, expire_at_ms != 0);
  // Too big for the budget (or out of memory): do not keep the old value either, since the
  // caller just wrote a newer one upstream and L1 must not serve the stale one.
  if (fresh == nullptr || !addressable(fresh) || (capacity_ != 0 && charge(fresh) > capacity_) ||
      (existing == kNoSlot && (count_ >= kSlotsMax - 1))) {
    if (fresh != nullptr) Entry::destroy(fresh);
    if (existing != kNoSlot) remove(existing, hash, Removal::kErase);
    return 0;
  }
  const uint64_t version = next_version();
  fresh->set_version(version);
  if (expire_at_ms != 0) fresh->set_expire_at_ms(expire_at_ms);
  if (existing != kNoSlot) {
    replace(existing, fresh);
  } else {
    const SlotId s = alloc_slot();
    set_entry(s, fresh);
    const uint32_t b = bucket_of(hash);
    set_next(s, buckets_[b]);
    buckets_[b] = s;
    ++count_;
    if (fresh->has_ttl()) ttl_add(s, fresh);
    const uint64_t c = charge(fresh);
    used_ += c;
    if (policy_) policy_->on_insert(s, hash, c);
    maybe_grow();
  }
  evict_over_budget();
  return version;
}

// Same key, same TTL-ness and the same allocation class: rewrite the block instead of a
// malloc/free pair and relinking (the common overwrite of a counter or a session blob).
bool Shard::overwrite_in_place(SlotId s, std::string_view value, int64_t expire_at_ms) {
  Entry* e = entry_at(s);
  if (e->has_ttl() != (expire_at_ms != 0) || !e->same_format(value.size())) return false;
  const size_t old_request = e->request_bytes();
  const size_t new_request = Entry::alloc_bytes(e->key_len(), value.size(), e->has_ttl());
  if (new_request != old_request && !same_allocation_class(e, old_request, new_request)) {
    return false;
  }
  // Same block, same class: the charge is unchanged, so used_ and the policy need no update.
  e->overwrite_value(value);
  if (expire_at_ms != 0) e->set_expire_at_ms(expire_at_ms);
  e->set_version(next_version());
  return true;
}

bool Shard::set_expire(std::string_view key, uint64_t hash, int64_t expire_at_ms, int64_t now_ms) {
  if (!leases_.empty()) drop_lease(key);
  const SlotId s = lookup(key, hash);
  if (s == kNoSlot) return false;
  Entry* e = entry_at(s);
  if (e->expired(now_ms)) {
    remove(s, hash, Removal::kExpire);
    return false;
  }
  const uint64_t version = next_version();
  if (e->has_ttl() == (expire_at_ms != 0)) {
    if (expire_at_ms != 0) e->set_expire_at_ms(expire_at_ms);
    e->set_version(version);
    return true;
  }
  Entry* fresh = Entry::create(e->key(), e->value(), expire_at_ms != 0);
  if (fresh == nullptr || !addressable(fresh)) {  // cannot rebuild: dropping it is the safe answer
    if (fresh != nullptr) Entry::destroy(fresh);
    remove(s, hash, Removal::kErase);
    return false;
  }
  fresh->set_version(version);
  if (expire_at_ms != 0) fresh->set_expire_at_ms(expire_at_ms);
  replace(s, fresh);
  evict_over_budget();
  return true;
}

bool Shard::erase(std::string_view key, uint64_t hash, int64_t now_ms) {
  if (!leases_.empty()) drop_lease(key);
  const SlotId s = lookup(key, hash);
  if (s == kNoSlot) return false;
  const bool was_live = !entry_at(s)->expired(now_ms);
  remove(s, hash, was_live ? Removal::kErase : Removal::kExpire);
  // Versions are per key and must never repeat, so a delete consumes one too.
  next_version();
  return was_live;
}

uint64_t Shard::begin_fill(std::string_view key) {
  // Concurrent misses share one lease: any of their fills is as fresh as the others.
  if (auto it = leases_.find(key); it != leases_.end()) return it->second;
  if (leases_.size() >= kLeasesMax) leases_.clear();
  const uint64_t token = (++lease_counter_ << index_bits_) | index_;
  leases_.emplace(std::string(key), token);
  return token;
}

bool Shard::take_lease(std::string_view key, uint64_t token) {
  auto it = leases_.find(key);
  if (it == leases_.end() || it->second != token) return false;
  leases_.erase(it);
  return true;
}

void Shard::drop_lease(std::string_view key) {
  if (auto it = leases_.find(key); it != leases_.end()) leases_.erase(it);
}

void Shard::clear() {
  for (SlotId s = 0; s < slots_.size(); ++s) {
    if (!live(s)) continue;
    if (policy_) policy_->on_erase(s);
    Entry::destroy(entry_at(s));
  }
  slots_.clear();
  free_head_ = kNoSlot;
  std::fill(buckets_.begin(), buckets_.end(), kNoSlot);  // never shrink: keeps scans valid
  ttl_slots_.clear();
  leases_.clear();
  count_ = 0;
  used_ = 0;
}

SlotId Shard::alloc_slot() {
  if (free_head_ != kNoSlot) {
    const SlotId s = free_head_;
    free_head_ = next_of(s);
    return s;
  }
  slots_.push_back(SlotRec{});
  return static_cast<SlotId>(slots_.size() - 1);
}

void Shard::free_slot(SlotId s) {
  set_entry(s, nullptr);
  set_next(s, free_head_);
  free_head_ = s;
}

void Shard::unlink(SlotId s, uint64_t hash) {
  const uint32_t b = bucket_of(hash);
  const SlotId next = next_of(s);
  if (buckets_[b] == s) {
    buckets_[b] = next;
    return;
  }
  for (SlotId cur = buckets_[b];; cur = next_of(cur)) {  // s is in this chain by construction
    if (next_of(cur) == s) {
      set_next(cur, next);
      return;
    }
  }
}

void Shard::remove(SlotId s, uint64_t hash, Removal why) {
  Entry* e = entry_at(s);
  unlink(s, hash);
  if (e->has_ttl()) ttl_remove(e);
  used_ -= charge(e);
  --count_;
  switch (why) {
    case Removal::kErase:
      if (policy_) policy_->on_erase(s);
      break;
    case Removal::kExpire:
      if (policy_) policy_->on_erase(s);
      ++expired_;
      if (observer_ != nullptr) observer_->on_removed(e->key(), false);
      break;
    case Removal::kEvict:  // evict() already made the policy forget s
      ++evictions_;
      if (observer_ != nullptr) observer_->on_removed(e->key(), true);
      break;
  }
  free_slot(s);
  Entry::destroy(e);
}

// Swaps a rebuilt entry into slot s, keeping its TTL-set membership right (the chain link is
// the slot's, so it stays).
void Shard::replace(SlotId s, Entry* fresh) {
  Entry* old = entry_at(s);
  if (old->has_ttl() && fresh->has_ttl()) {
    fresh->set_ttl_pos(old->ttl_pos());
  } else if (old->has_ttl()) {
    ttl_remove(old);
  }
  const uint64_t old_charge = charge(old);
  set_entry(s, fresh);
  if (fresh->has_ttl() && !old->has_ttl()) ttl_add(s, fresh);
  Entry::destroy(old);
  const uint64_t new_charge = charge(fresh);
  used_ = used_ - old_charge + new_charge;
  if (policy_) policy_->on_resize(s, old_charge, new_charge);
}

void Shard::ttl_add(SlotId s, Entry* e) {
  e->set_ttl_pos(static_cast<uint32_t>(ttl_slots_.size()));
  ttl_slots_.push_back(s);
}

void Shard::ttl_remove(Entry* e) {
  const uint32_t pos = e->ttl_pos();
  const SlotId last = ttl_slots_.back();
  ttl_slots_[pos] = last;
  entry_at(last)->set_ttl_pos(pos);
  ttl_slots_.pop_back();
}

// Load factor 1 with 4-byte heads: ~4-8 bytes of index per entry. Grows all at once (a pause of
// O(shard size)); tables never shrink, which keeps SCAN cursors valid.
void Shard::maybe_grow() {
  if (count_ <= buckets_.size() || buckets_.size() >= kBucketsMax) return;
  std::vector<SlotId> grown(buckets_.size() * 2, kNoSlot);
  const uint64_t mask = grown.size() - 1;
  for (SlotId head : buckets_) {
    for (SlotId s = head; s != kNoSlot;) {
      const SlotId next = next_of(s);
      const uint64_t b = hash_key(entry_at(s)->key()) & mask;
      set_next(s, grown[b]);
      grown[b] = s;
      s = next;
    }
  }
  buckets_.swap(grown);
}

void Shard::evict_over_budget() {
  if (capacity_ == 0 || !policy_) return;
  while (used_ > capacity_) {
    const SlotId victim = policy_->evict();
    if (victim == kNoSlot || !live(victim)) return;
    remove(victim, hash_key(entry_at(victim)->key()), Removal::kEvict);
  }
}

uint64_t Shard::next_random() {  // xorshift64*: cheap, and sampling needs no more
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545f4914f6cdd1dull;
}

size_t Shard::expire_sample(int64_t now_ms, size_t* checks) {
  size_t removed = 0;
  while (*checks > 0 && !ttl_slots_.empty()) {
    const size_t round = std::min({kExpireSample, *checks, ttl_slots_.size()});
    size_t expired = 0;
    for (size_t i = 0; i < round && !ttl_slots_.empty(); ++i) {
      const SlotId s = ttl_slots_[next_random() % ttl_slots_.size()];
      Entry* e = entry_at(s);
      --*checks;
      if (e->expired(now_ms)) {
        remove(s, hash_key(e->key()), Removal::kExpire);
        ++expired;
      }
    }
    removed += expired;
    if (expired * 4 <= round) break;  // at most a quarter stale: not worth another round
  }
  return removed;
}

uint32_t Shard::scan(uint32_t cursor, size_t count, int64_t now_ms, std::vector<std::string>* out,
                     size_t* added) {
  const uint32_t mask = static_cast<uint32_t>(buckets_.size() - 1);
  do {
    for (SlotId s = buckets_[cursor & mask]; s != kNoSlot; s = next_of(s)) {
      const Entry* e = entry_at(s);
      if (!e->expired(now_ms)) {
        out->emplace_back(e->key());
        ++*added;
      }
    }
    // Redis's reverse-binary increment: walks high bits first, so buckets already visited map
    // to buckets already visited after the table doubles.
    cursor |= ~mask;
    cursor = reverse_bits(reverse_bits(cursor) + 1);
  } while (cursor != 0 && *added < count);
  return cursor;
}

void Shard::add_stats(StoreStats* s) const {
  s->keys += count_;
  s->keys_with_ttl += ttl_slots_.size();
  s->used_bytes += used_;
  s->hits += hits_;
  s->misses += misses_;
  s->evictions += evictions_;
  s->expired += expired_;
}

bool Shard::check_invariants() const {
  uint64_t n = 0;
  uint64_t bytes = 0;
  uint64_t with_ttl = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    for (SlotId s = buckets_[b]; s != kNoSlot;) {
      if (!live(s)) return false;
      const Entry* e = entry_at(s);
      if (bucket_of(hash_key(e->key())) != b) return false;
      if (e->has_ttl()) {
        ++with_ttl;
        if (e->ttl_pos() >= ttl_slots_.size() || ttl_slots_[e->ttl_pos()] != s) return false;
      }
      ++n;
      bytes += charge(e);
      s = next_of(s);
    }
  }
  uint64_t live_slots = 0;
  for (SlotId s = 0; s < slots_.size(); ++s) live_slots += live(s) ? 1 : 0;
  return n == count_ && live_slots == count_ && bytes == used_ && with_ttl == ttl_slots_.size() &&
         (capacity_ == 0 || used_ <= capacity_);
}

}  // namespace strata::cache
