// Loss detection for the sync bus, as a pure state machine (no I/O, time is an argument): it is
// told of every message from other instances, in the order the bus delivers them, and answers
// which partitions' keys must be dropped from L1 because something may have been missed.
//
// Each sender (an instance's worker: origin, epoch, sender) numbers its messages per partition
// from 1, gaplessly, and sends a heartbeat every heartbeat_ms with its last number per partition.
// A receiver drops a partition when:
//   - a message skips numbers (a gap), or a heartbeat names a number it has not seen;
//   - a sender's first message it sees is not number 1 (it missed the start);
// and drops every partition when:
//   - a known origin comes back with a new epoch (it restarted: its last words may be lost);
//   - a sender goes silent for silence_ms (it may be writing unseen), counted once per silence;
//   - its own connection to the bus was lost (anything may have been missed).
// Old and duplicate messages (a number already seen) are refused. A dropped partition is served
// from the next tier until events flow again; counting resumes at the number that revealed the
// loss, so one loss is one drop.
#pragma once

#include <cstdint>
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
  uint64_t silences = 0;     // a sender went silent
  uint64_t reconnects = 0;   // this instance's own bus connection came back
  uint64_t partition_drops = 0;  // partitions dropped (all = partitions count)
};

class SyncReceiver {
 public:
  // Senders tracked at most; past it the longest-silent one is forgotten (after a drop-all).
  static constexpr size_t kSendersMax = 4096;

  SyncReceiver(uint32_t partitions, int64_t silence_ms) : partitions_(partitions),
                                                          silence_ms_(silence_ms) {}

  // A change message numbered `seq` for `partition`. True: apply it; false: refuse it (old or
  // duplicate). *drops gets what must be dropped before applying it.
  bool on_changes(const SenderId& id, uint16_t partition, uint64_t seq, int64_t now_ms,
                  Drops* drops);
  // A heartbeat: last_seq[p] is the sender's last number for partition p.
  void on_heartbeat(const SenderId& id, std::span<const uint64_t> last_seq, int64_t now_ms,
                    Drops* drops);
  // Silence check; call every few milliseconds.
  void on_tick(int64_t now_ms, Drops* drops);
  // This instance's own bus connection came back (or was lost): anything may have been missed.
  void on_reconnect(Drops* drops);

  const SyncReceiverStats& stats() const { return stats_; }
  // The latest (last heard + guard_ms) over senders that are silent now; 0: none is.
  int64_t silent_guard_until(int64_t guard_ms) const;
  struct Peer {
    SenderId id;
    int64_t last_seen_ms;
    bool silent;
  };
  std::vector<Peer> peers() const;

 private:
  struct State {
    uint64_t epoch = 0;
    int64_t last_seen_ms = 0;
    bool silent = false;
    std::vector<uint64_t> next;  // per partition: the number expected next; 0 = none seen yet
  };
  static uint64_t key_of(const SenderId& id) {
    return id.origin * 0x9e3779b97f4a7c15ull ^ (static_cast<uint64_t>(id.sender) << 48);
  }
  // The sender's state, created or reset (new epoch) as needed.
  State& state_for(const SenderId& id, int64_t now_ms, Drops* drops);
  void drop_all(Drops* drops);
  void drop_partition(uint16_t p, Drops* drops);
  void forget_oldest();

  uint32_t partitions_;
  int64_t silence_ms_;
  struct Entry {
    SenderId id;
    State state;
  };
  std::unordered_map<uint64_t, Entry> senders_;
  SyncReceiverStats stats_;
};

}  // namespace strata::proxy
