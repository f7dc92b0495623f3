#include "proxy/changefeed/own_writes.h"

#include "cache/hash.h"

namespace strata::proxy {

uint64_t OwnWrites::hash_value(std::string_view value) { return cache::hash_key(value); }

size_t OwnWrites::KeyHash::operator()(std::string_view k) const { return cache::hash_key(k); }

OwnWrites::Shard& OwnWrites::shard_of(std::string_view key) {
  return shards_[cache::hash_key(key) % kShards];
}

void OwnWrites::note(std::string_view key, uint64_t version, uint64_t value_hash, bool deleted) {
  Shard& s = shard_of(key);
  std::lock_guard lock(s.mu);
  if (s.entries.size() >= kEntriesMax / kShards) s.entries.clear();
  auto [it, fresh] = s.entries.try_emplace(std::string(key));
  // Versions order writes: a late record of an older write never replaces a newer one.
  if (fresh || version >= it->second.version) it->second = Entry{version, value_hash, deleted};
}

OwnWrites::Match OwnWrites::match(std::string_view key, uint64_t version, uint64_t value_hash,
                                  bool deleted) {
  Shard& s = shard_of(key);
  std::lock_guard lock(s.mu);
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
  if (version == e.version && deleted == e.deleted && (deleted || value_hash == e.hash)) {
    s.entries.erase(it);
    return Match::kOwn;
  }
  return Match::kNone;
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
