// CLIENT TRACKING served by strata (client_tracking.cc): a client's tracking mode, and the
// worker's subscriber to its change seam that turns changes into invalidation messages for the
// clients the TrackingTable names, on whichever worker each lives.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/loop/event_loop.h"
#include "proxy/resp/tracked_keys.h"
#include "proxy/resp/tracking_table.h"
#include "proxy/sync/change_seam.h"

namespace strata::proxy {

// One client's CLIENT TRACKING settings, as Redis keeps them in its client flags.
struct TrackingState {
  bool on = false;
  bool bcast = false;
  bool optin = false;
  bool optout = false;
  bool noloop = false;
  bool caching = false;          // CLIENT CACHING YES (OPTIN) / NO (OPTOUT) for the next command
  bool broken_redirect = false;  // the REDIRECT target went away
  // A flush was told and the client has sent nothing since: one FLUSHALL reaches strata more
  // than once (its own command, and Redis's tracking on each worker), the client hears it once.
  bool flush_told = false;
  uint64_t redirect = 0;         // 0: none
  std::vector<std::string> prefixes;  // BCAST, in order of arrival
  // Keys the table holds for this client (it read them, no change was told since): a read of
  // one of them skips the table's lock. A key leaves when a change of it reaches this client,
  // told or not (NOLOOP); a read in between is followed by that invalidation anyway (with a
  // REDIRECT, whose target may hear first, such a read goes to the table: forgets_pending).
  // Not the keys of L1-hit GETs the table holds by the client's bit (TrackingSeen's path).
  TrackedKeys remembered{kTrackingRememberedMax};
};

// A changed key, and the client whose command changed it (NOLOOP; 0: none known).
struct KeyChange {
  std::string key;
  uint64_t writer = 0;
};
using KeyChanges = std::shared_ptr<const std::vector<KeyChange>>;

// Per worker: subscribed to its seam. A change on this worker is told to the tracking clients
// of every worker: directly to this worker's, through the client registry's mailboxes to the
// others' (a client's REDIRECT target, on whatever worker, is sent its invalidations from here,
// in the order of the changes). A key's readers hear of it at once; BCAST clients once per loop
// iteration, all keys of one prefix in one message (flush_batches, at the end of the iteration).
class TrackingNotifier final : public ChangeSubscriber {
 public:
  // Keys batched for BCAST clients in one iteration before they are sent early.
  static constexpr size_t kBatchKeysMax = 4096;

  explicit TrackingNotifier(Loop* loop) : loop_(loop) {}
  void on_change(const ChangeEvent& e) override;
  void flush_batches();

 private:
  Loop* loop_;
  std::vector<uint64_t> readers_;  // scratch
  std::vector<TrackingMode> modes_;
  std::vector<TrackingTable::PrefixHit> hits_;
  struct Batch {
    TrackingMode mode;  // the client's, at its last change
    std::vector<KeyChange> keys;
  };
  std::map<std::pair<uint64_t, std::string>, Batch> batches_;  // (client, prefix)
  size_t batched_ = 0;
};

// On the thread of client `id`'s worker: tell it `changes` (flush: every key; bcast: a BCAST
// batch, else a key it read), less the keys its NOLOOP excludes; through its REDIRECT target if
// it has one.
void tell_tracking_client(uint32_t worker, uint64_t id, const KeyChanges& changes, bool flush,
                          bool bcast);

// On worker `here`'s thread: the keys the table forgot for room are told to their readers, as
// changed (Redis does the same).
void tell_evicted(uint32_t here, const std::vector<TrackingTold>& evicted);

// RESP2 clients disconnected because their REDIRECT target went away (INFO).
uint64_t tracking_broken_redirect_closes();

// Redis's INFO text, relayed: its tracking_clients / tracking_total_keys / _items / _prefixes
// lines become strata's (Redis's count strata's own upstream tracking, not its clients').
void rewrite_tracking_info(std::string* info);

}  // namespace strata::proxy
