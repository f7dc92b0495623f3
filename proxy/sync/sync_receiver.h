// Loss detection for the sync bus, as a pure state machine (no I/O, time is an argument): it is
// told of every message from other instances, in the order the bus delivers them, and answers
// which partitions' keys must be dropped from L1 because something may have been missed, and
// whether L1 may be trusted right now.
//
// Each sender (an instance's worker: origin, epoch, sender) numbers its messages per partition
// from 1, gaplessly, and sends a heartbeat every heartbeat_ms with its last number per partition
// and (format 2) its clock at sending. A receiver drops a partition when:
//   - a message skips numbers (a gap), or a heartbeat names a number it has not seen;
//   - a sender's first message it sees is not number 1 (it missed the start);
// and drops every partition when:
//   - a known origin comes back with a new epoch (it restarted: its last words may be lost);
//   - a sender stays silent for gone_after_ms (it may have written unseen and died; by then it
//     has refused writes itself), counted once per silence;
//   - its own connection to the bus was lost (anything may have been missed).
// Old and duplicate messages (a number already seen) are refused. A dropped partition is served
// from the next tier until events flow again; counting resumes at the number that revealed the
// loss, so one loss is one drop.
//
// Trust (reads may use L1) is computed, not remembered: a sender's horizon is the send time of
// its newest heartbeat (everything it published before that was delivered, or a gap was seen:
// one connection keeps one publisher's order). While some live sender's horizon is older than
// stale_after_ms (a silent link, or a slow one that still delivers), or further ahead than
// skew_max_ms (the clocks disagree past the bound, so its age cannot be told), L1 is not
// trusted. Nothing is dropped for that: once its heartbeats are young again with no gap, every
// change it made up to them has been applied, and trust returns at once.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace strata::proxy {

struct SenderId {
  uint64_t origin = 0;  // the instance (a hash of its stable name)
  uint64_t epoch = 0;   // its start
  uint16_t sender = 0;  // its worker
};

// What to drop: every partition, or the listed ones.
struct Drops {
  bool all = false;
  std::vector<uint16_t> partitions;
  // A silent sender spoke again: what it sends now may be the replay of an outage.
  bool returned = false;
  bool empty() const { return !all && partitions.empty(); }
  void clear() {
    all = false;
    returned = false;
    partitions.clear();
  }
};

struct SyncReceiverStats {
  uint64_t messages = 0;     // change messages accepted
  uint64_t duplicates = 0;   // refused: a number already seen
  uint64_t gaps = 0;         // numbers skipped (by a message or a heartbeat)
  uint64_t new_epochs = 0;   // a known origin restarted
  uint64_t silences = 0;     // a sender went silent (silence_ms without a message)
  uint64_t long_silences = 0;    // ... and stayed silent gone_after_ms: everything dropped
  uint64_t slow_links = 0;       // a sender's horizon aged past stale_after_ms while it spoke
  uint64_t skewed_links = 0;     // a sender's clock ran ahead past skew_max_ms
  uint64_t untrusted = 0;        // a sender stopped vouching for L1 (any of the above)
  uint64_t trust_restored = 0;   // ... and vouched again with nothing missed (no drop)
  uint64_t reconnects = 0;   // this instance's own bus connection came back
  uint64_t partition_drops = 0;  // partitions dropped (all = partitions count)
};

// The receiver's clocks and bounds, in ms.
struct SyncTrustLimits {
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max() / 4;
  int64_t silence_ms = kNever;       // no message this long: silent (counted, nothing dropped)
  int64_t stale_after_ms = kNever;   // a horizon older than this: L1 untrusted (max_staleness_ms)
  int64_t skew_max_ms = kNever;      // a horizon this far ahead of our clock: untrusted too
  int64_t gone_after_ms = kNever;    // silent this long: drop everything once, stop waiting
};

class SyncReceiver {
 public:
  // Senders tracked at most; past it the longest-silent one is forgotten (after a drop-all).
  static constexpr size_t kSendersMax = 4096;

  SyncReceiver(uint32_t partitions, SyncTrustLimits limits)
      : partitions_(partitions), limits_(limits) {}
  // Loss detection alone: silence is counted, L1 always trusted, nothing ever gone.
  SyncReceiver(uint32_t partitions, int64_t silence_ms)
      : SyncReceiver(partitions, SyncTrustLimits{silence_ms}) {}

  // A change message numbered `seq` for `partition`. True: apply it; false: refuse it (old or
  // duplicate). *drops gets what must be dropped before applying it.
  bool on_changes(const SenderId& id, uint16_t partition, uint64_t seq, int64_t now_ms,
                  Drops* drops);
  // A heartbeat: last_seq[p] is the sender's last number for partition p; sent_at_ms its
  // clock when it sent it (0: unknown, format 1: the arrival stands in for it).
  void on_heartbeat(const SenderId& id, std::span<const uint64_t> last_seq, int64_t now_ms,
                    Drops* drops, int64_t sent_at_ms = 0);
  // Silence, long silence and trust; call every few milliseconds. True while every live
  // sender vouches for L1.
  bool on_tick(int64_t now_ms, Drops* drops);
  // This instance's own bus connection came back (or was lost): anything may have been missed.
  void on_reconnect(Drops* drops);

  const SyncReceiverStats& stats() const { return stats_; }
  struct Peer {
    SenderId id;
    int64_t last_seen_ms;
    int64_t horizon_ms;  // send time of its newest heartbeat (its clock), or arrival
    int64_t delay_ms;    // that heartbeat's arrival minus its send time (clocks may differ)
    bool silent;
    bool trusted;
    bool gone;
  };
  std::vector<Peer> peers() const;

 private:
  struct State {
    uint64_t epoch = 0;
    int64_t last_seen_ms = 0;
    int64_t horizon_ms = 0;  // see "Trust" above; from its first message on, it is complete
    int64_t delay_ms = 0;
    bool silent = false;
    bool untrusted = false;
    bool slow = false;    // untrusted while it still spoke (counted once per episode)
    bool gone = false;    // silent past gone_after_ms: everything was dropped; not waited for
    std::vector<uint64_t> next;  // per partition: the number expected next; 0 = none seen yet
  };
  // Is this sender's horizon within the bounds at now_ms?
  bool vouches(const State& s, int64_t now_ms) const;
  static uint64_t key_of(const SenderId& id) {
    return id.origin * 0x9e3779b97f4a7c15ull ^ (static_cast<uint64_t>(id.sender) << 48);
  }
  // The sender's state, created or reset (new epoch) as needed.
  State& state_for(const SenderId& id, int64_t now_ms, Drops* drops);
  void drop_all(Drops* drops);
  void drop_partition(uint16_t p, Drops* drops);
  void forget_oldest();

  uint32_t partitions_;
  SyncTrustLimits limits_;
  struct Entry {
    SenderId id;
    State state;
  };
  std::unordered_map<uint64_t, Entry> senders_;
  SyncReceiverStats stats_;
};

}  // namespace strata::proxy
