#include "proxy/changefeed/own_writes.h"

#include <algorithm>

#include "cache/hash.h"

namespace strata::proxy {

uint64_t OwnWrites::hash_value(std::string_view value) { return cache::hash_key(value); }

size_t OwnWrites::KeyHash::operator()(std::string_view k) const { return cache::hash_key(k); }

OwnWrites::Shard& OwnWrites::shard_of(std::string_view key) {
  return shards_[cache::hash_key(key) % kShards];
}

void OwnWrites::saw(Shard& s, std::string_view key, uint64_t version, bool deleted) {
  auto it = s.seen.find(key);
  if (it == s.seen.end()) {
    if (s.seen.size() >= kSeenMax / 2 / kShards) {
      s.seen_old = std::move(s.seen);
      s.seen.clear();
    }
    Seen before;
    if (auto old = s.seen_old.find(key); old != s.seen_old.end()) before = old->second;
    it = s.seen.emplace(std::string(key), before).first;
  }
  it->second.version = std::max(it->second.version, version);
  it->second.deleted = deleted;
}

const OwnWrites::Seen* OwnWrites::seen_of(const Shard& s, std::string_view key) {
  if (auto it = s.seen.find(key); it != s.seen.end()) return &it->second;
  if (auto it = s.seen_old.find(key); it != s.seen_old.end()) return &it->second;
  return nullptr;
}

void OwnWrites::note(std::string_view key, uint64_t version, uint64_t value_hash, bool deleted) {
  Shard& s = shard_of(key);
  std::lock_guard lock(s.mu);
  // Already passed: a row of this version or a newer one was decoded (the write came back
  // before it was told of, or lost to a newer version), or the key is absent and this removes
  // it. Nothing of it is to come.
  const Seen* seen = seen_of(s, key);
  if (seen != nullptr && (version <= seen->version || (deleted && seen->deleted))) return;
  if (s.entries.size() >= kEntriesMax / kShards) s.entries.clear();
  auto [it, fresh] = s.entries.try_emplace(std::string(key));
  // Versions order writes: a late record of an older write never replaces a newer one.
  if (fresh || version >= it->second.version) it->second = Entry{version, value_hash, deleted};
}

OwnWrites::Match OwnWrites::match(std::string_view key, uint64_t version, uint64_t value_hash,
                                  bool deleted) {
  Shard& s = shard_of(key);
  std::lock_guard lock(s.mu);
  saw(s, key, version, deleted);
  auto it = s.entries.find(key);
  if (it == s.entries.end()) return Match::kNone;
  const Entry& e = it->second;
  if (version == 0) {
    // A DELETE's row carries only its key: strata's own removal if strata's newest write of
    // the key removed it (nobody can delete a row that is already gone).
    if (!deleted || !e.deleted) return Match::kNone;
    s.entries.erase(it);
    return Match::kOwn;
  }
  if (version < e.version) return Match::kSuperseded;
  const bool own =
      version == e.version && deleted == e.deleted && (deleted || value_hash == e.hash);
  // Not own: the recorded write committed before this row, or PostgreSQL kept it at another
  // version, or it lost to this one. Either way it is not to come: the record ends.
  s.entries.erase(it);
  return own ? Match::kOwn : Match::kNone;
}

void OwnWrites::writing(std::string_view key, uint64_t version, std::string_view value,
                        bool is_delete) {
  if (!active_->load(std::memory_order_relaxed)) return;
  note(key, version, is_delete ? 0 : hash_value(value), is_delete);
}

void OwnWrites::failed(std::string_view key, uint64_t version) {
  if (!active_->load(std::memory_order_relaxed)) return;
  Shard& s = shard_of(key);
  std::lock_guard lock(s.mu);
  auto it = s.entries.find(key);
  if (it != s.entries.end() && it->second.version == version) s.entries.erase(it);
}

void PeerWriteRecorder::on_change(const ChangeEvent& e) {
  if (e.source != ChangeSource::kPeer || e.version == 0) return;
  if (e.op == ChangeOp::kDelete) {
    table_->writing(e.key, e.version, {}, true);
  } else if (e.op == ChangeOp::kSet) {
    table_->writing(e.key, e.version, e.value, false);
  }
  // An invalidation carries no value: its row goes the general way.
}

}  // namespace strata::proxy
