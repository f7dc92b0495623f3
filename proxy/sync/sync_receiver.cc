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
    e.state.horizon_ms = now_ms;  // heard from its start on (or a gap will say otherwise)
    e.state.next.assign(partitions_, 0);
    it = senders_.insert_or_assign(key_of(id), std::move(e)).first;
  } else if (it->second.state.epoch != id.epoch) {
    // The origin restarted: what it sent before it died may never have reached us.
    ++stats_.new_epochs;
    drop_all(drops);
    it->second.id = id;
    State fresh;
    fresh.epoch = id.epoch;
    fresh.horizon_ms = now_ms;
    fresh.next.assign(partitions_, 0);
    it->second.state = std::move(fresh);
  }
  State& s = it->second.state;
  s.last_seen_ms = now_ms;
  if (s.silent) drops->returned = true;
  s.silent = false;
  s.gone = false;  // everything was dropped when it went; from here on it is heard again
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
                                int64_t now_ms, Drops* drops, int64_t sent_at_ms) {
  State& s = state_for(id, now_ms, drops);
  // Everything the sender published before this heartbeat arrived before it (or the numbers
  // below show the gap): its stream is complete up to the heartbeat's send time.
  s.horizon_ms = sent_at_ms != 0 ? sent_at_ms : now_ms;
  s.delay_ms = sent_at_ms != 0 ? now_ms - sent_at_ms : 0;
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

bool SyncReceiver::vouches(const State& s, int64_t now_ms) const {
  if (s.gone) return true;  // dropped everything when it went; nothing of it is in L1
  const int64_t age = now_ms - s.horizon_ms;
  return age <= limits_.stale_after_ms && age >= -limits_.skew_max_ms;
}

bool SyncReceiver::on_tick(int64_t now_ms, Drops* drops) {
  bool all = true;
  for (auto& [key, e] : senders_) {
    State& s = e.state;
    const int64_t quiet = now_ms - s.last_seen_ms;
    if (!s.silent && quiet > limits_.silence_ms) {
      s.silent = true;
      ++stats_.silences;
    }
    if (s.silent && !s.gone && quiet > limits_.gone_after_ms) {
      // It may have written unseen before it died or noticed its isolation; it has refused
      // writes by now, so what the next tier holds is final for it.
      s.gone = true;
      ++stats_.long_silences;
      drop_all(drops);
    }
    const bool ok = vouches(s, now_ms);
    all = all && ok;
    if (ok) {
      if (s.untrusted && !s.gone) ++stats_.trust_restored;
      s.untrusted = s.slow = false;
      continue;
    }
    if (!s.untrusted) ++stats_.untrusted;
    s.untrusted = true;
    if (now_ms - s.horizon_ms < -limits_.skew_max_ms) {
      if (!s.slow) ++stats_.skewed_links;
      s.slow = true;
    } else if (!s.silent && !s.slow) {
      ++stats_.slow_links;  // its heartbeats arrive, but late
      s.slow = true;
    }
  }
  return all;
}

void SyncReceiver::on_reconnect(Drops* drops) {
  ++stats_.reconnects;
  drop_all(drops);
}

std::vector<SyncReceiver::Peer> SyncReceiver::peers() const {
  std::vector<Peer> out;
  out.reserve(senders_.size());
  for (const auto& [key, e] : senders_) {
    const State& s = e.state;
    out.push_back({e.id, s.last_seen_ms, s.horizon_ms, s.delay_ms, s.silent, !s.untrusted, s.gone});
  }
  return out;
}

}  // namespace strata::proxy
