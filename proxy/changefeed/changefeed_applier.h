// Worker 0's half of the change feed: applies committed transactions to the cache tiers, in
// commit order, and tells the feed when each is done (it then confirms the LSN).
//
// A transaction's rows go first to L2 (one script per key on the key's pipelined connection,
// all sent at once; transactions behind it are sent too), then, once every L2 step of it and of
// every transaction before it has answered, to L1 and the change seam in one step: a reader
// that misses L1 after that reads an L2 already changed. The seam carries each change (source
// changefeed) to NATS (every other instance's L1), WebSocket subscribers and CLIENT TRACKING.
//
// Per key (the L2 script, kChangefeedL2Script):
//   - L2 holds exactly the row (its version key is the row's version, its value the row's
//     value): strata wrote it itself (or an identical write): nothing changes, counted in
//     own_writes_skipped.
//   - else, with sync = "update" and a value in the row: installed in L2 and L1 at a fresh
//     version (above every version a fill could carry), published as a set.
//   - else: L2's copy is deleted and its version key set to a fresh version for fence_ms, so a
//     fill that read PostgreSQL before the commit (its version is the row's old one) is
//     refused; L1 drops the key (and its fills in flight); published as an invalidation.
// A prefix without L2 has nothing to check: the key is dropped from every L1 (this instance's
// L1 may hold the row's value only because it read PostgreSQL after the commit).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "proxy/changefeed/changefeed.h"

namespace strata::cache {
class Store;
}

namespace strata::proxy {

class Upstream;
class ChangeSeam;
class PolicyRegistry;
class NegativeCache;
class HybridClock;
class Loop;

struct ApplierContext {
  Loop* loop = nullptr;
  cache::Store* store = nullptr;
  Upstream* upstream = nullptr;  // null: no L2
  ChangeSeam* seam = nullptr;
  PolicyRegistry* registry = nullptr;
  NegativeCache* negative = nullptr;
  HybridClock* clock = nullptr;  // the tiers' write versions
};

class ChangefeedApplier {
 public:
  ChangefeedApplier(ApplierContext ctx, Changefeed* feed);
  ~ChangefeedApplier();

  // Takes what the feed queued and sends its L2 steps (start of iteration, wake-ups).
  void take();
  // Sends again the L2 steps that failed or found Redis away.
  void on_tick(int64_t now_ms);
  // End of the loop iteration, after the bus's publisher flushed: the transactions applied in
  // it are reported to the feed, which may confirm them to PostgreSQL now.
  void report();

 private:
  enum class Outcome : uint8_t { kWaiting, kFailed, kSame, kInvalidated, kInstalled, kDone };
  struct Pending {
    ChangefeedTxn txn;
    std::vector<Outcome> rows;        // per row of txn
    std::vector<uint64_t> versions;   // the version installed or fenced with
    size_t drops_waiting = 0;         // prefix scans still running in L2
    bool drops_failed = false;
  };

  struct RowRef {
    Pending* p;
    size_t i;
  };
  void send_rows(std::vector<RowRef>& refs, bool retry);
  void send_batch(std::span<const RowRef> batch, bool retry);
  void send_drop(Pending& p, const std::string& prefix, std::string cursor);
  void finish_ready();
  void apply_l1(Pending& p);
  void drop_l1_prefix(const std::string& prefix);
  bool uses_l2(std::string_view key) const;

  ApplierContext ctx_;
  Changefeed* feed_;
  std::deque<Pending> pending_;  // oldest first; references stay valid at both ends
  std::vector<ChangefeedTxn> taken_;
  std::vector<RowRef> refs_;  // scratch
  std::vector<std::pair<uint64_t, int64_t>> done_;  // applied, not reported: end LSN, commit
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // callbacks after destruction
};

}  // namespace strata::proxy
