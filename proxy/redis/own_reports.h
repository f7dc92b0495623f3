// Which of Redis's tracking reports are of strata's own writes (docs/tracking.md, "Writes strata
// forwards"). Redis reports a write strata forwarded, on the tracking connection of each worker
// whose shared connections read the key, besides the write's reply on the connection that carried
// it. Two sockets: the report may be read after the reply, when strata has told the write already
// and a client may have read the key again. Told a second time, that client would drop a value
// that is current, and a client that counts its invalidations (Redis's own unit/tracking) would
// be one off from then on.
//
// So each forwarded write is followed, on its own connection, by a PUBLISH of a marker to a
// channel only this process's tracking connections subscribe to. Redis runs the two in order, so
// on every tracking connection the write's reports come before the marker; a report of one of
// its keys that arrives at a worker before the marker does is the write's own (or of a write
// Redis ran between the two, which strata then tells with its own), and is not told again. A
// report after the marker is another client's change, told as any. No timer: a marker that
// never reaches Redis (its connection lost) is dropped with the connection's requests.
//
// Process-wide: a write forwarded on one worker may be reported on any worker. One mutex, taken
// only with some client tracking (wanted()) and, on the report path, for Redis's reports.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace strata::proxy {

class OwnReports {
 public:
  // Workers whose tracking connections are told apart (a bit each); a report on a worker past
  // them is always told (twice at worst, never not at all).
  static constexpr uint32_t kWorkersMax = 64;

  static OwnReports& instance();

  // A client of strata's turned CLIENT TRACKING on: from then on, for the process's life, writes
  // are marked. Not only while some client tracks: a write sent while none did may be reported
  // after a client turned tracking on and read the key (Redis's unit/tracking does just that
  // with a FLUSHALL). Before the first client ever tracks, nothing is marked (a PUBLISH per write
  // is not paid by those who never use it).
  void want() {
    if (!wanted()) wanted_.store(true, std::memory_order_relaxed);
  }
  bool wanted() const { return wanted_.load(std::memory_order_relaxed); }
  // The marker channel: this process's, no other client's.
  const std::string& channel() const { return channel_; }

  // A write of `keys` (flush: FLUSHALL/FLUSHDB, every key) is being sent to Redis: the marker to
  // PUBLISH right after it on the same connection, or 0 when none is needed (nobody tracks, or
  // no tracking connection listens).
  uint64_t open(std::span<const std::string> keys, bool flush);
  // The write's reply is in (or its connection was lost). changed: Redis applied it, and the
  // caller tells it. Returns the keys of a write that changed nothing but whose window held
  // reports: those were others' changes, to be told now (*flush: a flush report was held).
  void finish(uint64_t marker, std::span<const std::string> keys, bool flush, bool changed,
              std::vector<std::string>* tell, bool* tell_flush);
  // Worker `worker`'s tracking connection read `marker`: its window closes there.
  void passed(uint32_t worker, uint64_t marker);
  // The marker will never be published (its connection was lost before Redis ran it).
  void dropped(uint64_t marker);
  // A tracking connection subscribed to channel() (up) or lost (down): markers it waits for
  // no longer count on it.
  void live(uint32_t worker, bool up);

  // Redis reported `key` (flush: everything) on worker `worker`'s tracking connection: true if
  // it is a report of strata's own write, not to be told again.
  bool own(uint32_t worker, std::string_view key);
  bool own_flush(uint32_t worker);

  size_t open_markers() const;  // tests

 private:
  OwnReports();
  struct Marker {
    std::vector<std::string> keys;
    bool flush = false;
    uint64_t waiting = 0;  // workers whose tracking connection has not read it yet
  };
  struct KeyState {
    std::vector<uint64_t> markers;  // open markers of writes of the key
    uint32_t writes = 0;            // of them, writes whose reply is not in
    bool held = false;              // a report was taken as the writes' own meanwhile
  };
  // The marker's window closes on `worker` (mu_ held); a marker nobody waits for goes.
  void pass_locked(uint64_t marker, uint64_t worker_bits);
  bool own_locked(KeyState& s, uint64_t bit);
  void settle_locked(const std::string& key, KeyState* s);

  std::atomic<bool> wanted_{false};
  std::string channel_;
  mutable std::mutex mu_;
  uint64_t live_ = 0;  // workers with a subscribed tracking connection
  uint64_t next_ = 0;
  std::unordered_map<uint64_t, Marker> markers_;
  std::unordered_map<std::string, KeyState> keys_;
  KeyState flush_;
};

}  // namespace strata::proxy
