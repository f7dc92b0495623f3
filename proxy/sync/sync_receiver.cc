#include "proxy/sync/sync_receiver.h"

#include <algorithm>

namespace strata::proxy {

void SyncReceiver::drop_all(Drops* drops) {
  if (!drops->all) stats_.partition_drops += partitions_;
  drops->all = true;
  drops->partitions.clear();
}

void SyncReceiver::drop_partition(uint16_t p, Drops* drops) {
  if (drops->all) return;
  if (std::find(drops->partitions.begin(), drops->partitions.end(), p) != drops->partitions.end()) {
    return;
  }
  drops->partitions.push_back(p);
  ++stats_.partition_drops;
}

void SyncReceiver::forget_oldest() {
  auto oldest = senders_.begin();
  for (auto it = senders_.begin(); it != senders_.end(); ++it) {
    if (it->second.state.last_seen_ms < oldest->second.state.last_seen_ms) oldest = it;
  }
  if (oldest != senders_.end()) senders_.erase(oldest);
}

SyncReceiver::State& SyncReceiver::state_for(const SenderId& id, int64_t now_ms, Drops* drops) {
  auto it = senders_.find(key_of(id));
  if (it == senders_.end() || it->second.id.origin != id.origin ||
      it->second.id.sender != id.sender) {
    if (senders_.size() >= kSendersMax) {
      // Forgetting a sender forgets where its numbering stood: whatever it sends next cannot
      // be checked against what came before.
      drop_all(drops);
      forget_oldest();
    }
    Entry e;
    e.id = id;
    e.state.epoch = id.epoch;
    e.state.next.assign(partitions_, 0);
    it = senders_.insert_or_assign(key_of(id), std::move(e)).first;
  } else if (it->second.state.epoch != id.epoch) {
    // The origin restarted: what it sent before it died may never have reached us.
    ++stats_.new_epochs;
    drop_all(drops);
    it->second.id = id;
    it->second.state.epoch = id.epoch;
    it->second.state.next.assign(partitions_, 0);
  }
  State& s = it->second.state;
  s.last_seen_ms = now_ms;
  if (s.silent) drops->returned = true;
  s.silent = false;
  return s;
}

bool SyncReceiver::on_changes(const SenderId& id, uint16_t partition, uint64_t seq, int64_t now_ms,
                              Drops* drops) {
  if (partition >= partitions_ || seq == 0) return false;
  State& s = state_for(id, now_ms, drops);
  uint64_t& next = s.next[partition];
  if (next != 0 && seq < next) {
    ++stats_.duplicates;
    return false;
  }
  const uint64_t expected = next != 0 ? next : 1;
  if (seq > expected) {
    ++stats_.gaps;
    drop_partition(partition, drops);
  }
  next = seq + 1;
  ++stats_.messages;
  return true;
}

void SyncReceiver::on_heartbeat(const SenderId& id, std::span<const uint64_t> last_seq,
                                int64_t now_ms, Drops* drops) {
  State& s = state_for(id, now_ms, drops);
  const size_t n = std::min<size_t>(last_seq.size(), partitions_);
  for (size_t p = 0; p < n; ++p) {
    const uint64_t last = last_seq[p];
    uint64_t& next = s.next[p];
    if (last == 0) continue;       // nothing sent on this partition yet
    if (next != 0 && last < next) continue;  // all seen
    ++stats_.gaps;                 // numbers up to `last` were sent and not seen
    drop_partition(static_cast<uint16_t>(p), drops);
    next = last + 1;
  }
}

void SyncReceiver::on_tick(int64_t now_ms, Drops* drops) {
  for (auto& [key, e] : senders_) {
    State& s = e.state;
    if (s.silent || now_ms - s.last_seen_ms <= silence_ms_) continue;
    s.silent = true;
    ++stats_.silences;
    drop_all(drops);
  }
}

int64_t SyncReceiver::silent_guard_until(int64_t guard_ms) const {
  int64_t until = 0;
  for (const auto& [key, e] : senders_) {
    if (e.state.silent) until = std::max(until, e.state.last_seen_ms + guard_ms);
  }
  return until;
}

void SyncReceiver::on_reconnect(Drops* drops) {
  ++stats_.reconnects;
  drop_all(drops);
}

std::vector<SyncReceiver::Peer> SyncReceiver::peers() const {
  std::vector<Peer> out;
  out.reserve(senders_.size());
  for (const auto& [key, e] : senders_) out.push_back({e.id, e.state.last_seen_ms, e.state.silent});
  return out;
}

}  // namespace strata::proxy
