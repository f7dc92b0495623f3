// strata's own writes, as the change feed will see them come back: key -> the version (and the
// value's hash) of the newest write this instance sent PostgreSQL (recorded before it is sent:
// the feed may hear of the commit before the writer does) or heard of from a peer, while this
// instance reads the feed. A committed row whose version
// and value are exactly such a write is strata's own: the caches already hold it, so the feed
// skips it without touching L2 or L1 (own_writes_skipped). A row older than a write recorded
// for its key is skipped too: that write is newer in every tier and reaches PostgreSQL after
// the row (its version orders it there), so the row's value is about to be replaced.
// Everything else -- a write strata never made, a write whose record the table lost -- goes
// the general way (the L2 script decides). Thread-safe: workers record, the feed's thread
// looks up.
//
// A record lives only while its write may still come: a row at or past its version that is not
// it ends it (the write committed before that row, PostgreSQL kept it at another version, or a
// newer version won), and a write the feed has already passed is never recorded (a peer's,
// told over NATS after its commit, often after the feed decoded that commit; one below a
// version already committed). A record that outlived its write would make every later change
// of the key with a lower version column -- an admin tool's UPDATE, a DELETE and INSERT --
// look superseded, and the caches would keep the old value for good.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/sync/change_seam.h"
#include "proxy/tiers/tier_shared.h"

namespace strata::proxy {

class OwnWrites final : public PgWriteObserver {
 public:
  explicit OwnWrites(const std::atomic<bool>* active) : active_(active) {}
  // PgWriteObserver: the tiers' PostgreSQL writes, recorded while `active` (the feed is read
  // here).
  void writing(std::string_view key, uint64_t version, std::string_view value,
               bool is_delete) override;
  void failed(std::string_view key, uint64_t version) override;

  // Keys recorded at most; a full shard starts over (its writes then go the general way).
  static constexpr size_t kEntriesMax = 1 << 20;
  // Keys whose rows the feed passed, remembered for notes that come late: the last kSeenMax / 2
  // changed keys or so (two generations per shard; the older is dropped whole).
  static constexpr size_t kSeenMax = 1 << 17;
  static constexpr size_t kShards = 16;

  // `deleted`: the write removed the key (value_hash ignored).
  void note(std::string_view key, uint64_t version, uint64_t value_hash, bool deleted);
  enum class Match : uint8_t { kNone, kOwn, kSuperseded };
  // kOwn forgets the record (the write came back); the others keep it.
  Match match(std::string_view key, uint64_t version, uint64_t value_hash, bool deleted);
  static uint64_t hash_value(std::string_view value);

 private:
  struct Entry {
    uint64_t version = 0;
    uint64_t hash = 0;
    bool deleted = false;
  };
  // What the feed passed for a key: the highest version of its rows, and whether the newest
  // row was a delete (the key is absent).
  struct Seen {
    uint64_t version = 0;
    bool deleted = false;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const;
  };
  template <typename T>
  using KeyMap = std::unordered_map<std::string, T, KeyHash, std::equal_to<>>;
  struct Shard {
    std::mutex mu;
    // Looked up by view (no copy of the key per change the feed checks).
    KeyMap<Entry> entries;
    KeyMap<Seen> seen, seen_old;
  };
  Shard& shard_of(std::string_view key);
  // With the shard's lock held.
  static void saw(Shard& s, std::string_view key, uint64_t version, bool deleted);
  static const Seen* seen_of(const Shard& s, std::string_view key);
  const std::atomic<bool>* active_;
  std::array<Shard, kShards> shards_;
};

// Worker 0's subscriber of its seam: records the writes peers tell of (their versions; their
// values in update mode), while this instance reads the feed (one relaxed load per change
// otherwise). This instance's own writes are recorded before they are sent (PgWriteObserver).
class PeerWriteRecorder final : public ChangeSubscriber {
 public:
  explicit PeerWriteRecorder(OwnWrites* table) : table_(table) {}
  void on_change(const ChangeEvent& e) override;

 private:
  OwnWrites* table_;
};

}  // namespace strata::proxy
