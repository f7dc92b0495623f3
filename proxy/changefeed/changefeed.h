// PostgreSQL's change feed: changes made directly in PostgreSQL (migrations, admin tools, other
// services) reach every cache. One per process, only with [postgres] changefeed = true.
//
// Threads: the feed's own thread does every blocking libpq call -- the election connection
// (an advisory lock: one reader per slot across the fleet), the publication and the slot, and
// the replication connection (START_REPLICATION ... LOGICAL, pgoutput proto_version 1) -- and
// decodes committed transactions into key changes (protocol/pgoutput.h, TableMap). A decoded
// transaction waits until it is visible to new snapshots (PostgreSQL streams a commit once its
// WAL is flushed, which can be well before the committing session leaves the list of running
// transactions: a read in between still sees the old row and would cache it again for good).
// They cross to worker 0 through a bounded queue and its loop's wake-up; worker 0 applies them
// (ChangefeedApplier: L2, L1, the change seam, hence NATS, WebSocket and CLIENT TRACKING) and
// reports each transaction applied, in commit order. Only then does the thread confirm its end
// LSN to PostgreSQL (the standby status update's flush position): a crash or a takeover
// replays from the last applied transaction, never past one.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "policies/policy_config.h"
#include "proxy/changefeed/own_writes.h"
#include "proxy/changefeed/table_map.h"
#include "proxy/loop/event_loop.h"

namespace strata::protocol {
struct PgError;
}

namespace strata::proxy {

class PolicyRegistry;

// One changed row, as a cache key.
struct ChangefeedRow {
  enum class Kind : uint8_t {
    kValue,       // the row now holds `value` (at its version column's `version`)
    kDelete,      // the row is gone, or holds no value (a write-behind tombstone)
    kInvalidate,  // the row changed and its value is not in the change (unchanged TOASTed
                  // column, a type strata does not decode): read it from PostgreSQL
  };
  std::string key;
  std::string value;
  uint64_t version = 0;  // the version column; 0 when absent or not a number
  Kind kind = Kind::kInvalidate;
};

// One committed transaction's effect, applied as a unit in commit order.
struct ChangefeedTxn {
  uint64_t end_lsn = 0;         // confirmed to PostgreSQL once applied
  int64_t commit_unix_us = 0;   // the commit's time (lag = applied - this); 0: not a commit
  std::vector<ChangefeedRow> rows;  // last change per key only
  // Prefixes whose every key must go: a TRUNCATE of the table they map, or the slot lost.
  std::vector<std::string> drop_prefixes;
  bool slot_lost = false;  // the drop is for a lost slot (counted apart)
};

struct ChangefeedCounters {
  std::atomic<uint64_t> transactions{0};      // committed transactions applied
  std::atomic<uint64_t> changes{0};           // row changes decoded on mapped tables
  std::atomic<uint64_t> keys_invalidated{0};  // in L1 and L2
  std::atomic<uint64_t> keys_updated{0};      // sync = "update": the row's value installed
  std::atomic<uint64_t> own_writes_skipped{0};  // the cache already held the row's version
  std::atomic<uint64_t> truncates{0};
  std::atomic<uint64_t> prefix_drops{0};
  std::atomic<uint64_t> slot_creations{0};
  std::atomic<uint64_t> slot_recreations{0};  // the slot was lost (dropped, invalidated)
  std::atomic<uint64_t> takeovers{0};         // this instance became the reader after another
  std::atomic<uint64_t> elections{0};         // this instance became the reader
  std::atomic<uint64_t> stream_errors{0};
  std::atomic<uint64_t> decode_errors{0};
  std::atomic<uint64_t> apply_retries{0};     // an L2 step failed and was sent again
  std::atomic<uint64_t> status_updates{0};
  std::atomic<uint64_t> setup_errors{0};      // publication/slot statements refused
  std::atomic<uint64_t> visibility_waits{0};  // snapshots that found a decoded commit running
};

class Changefeed {
 public:
  struct Setup {
    policies::PostgresConfig pg;
    std::string instance;
  };
  Changefeed(Setup setup, PolicyRegistry* registry);
  ~Changefeed();
  Changefeed(const Changefeed&) = delete;
  Changefeed& operator=(const Changefeed&) = delete;

  // Before start: the loop whose worker applies (woken when transactions are queued).
  void attach_applier(Loop* loop) { applier_ = loop; }
  void start();
  void stop();

  // Worker 0: the queued transactions, oldest first.
  void take(std::vector<ChangefeedTxn>* out);
  // Worker 0: the transaction ending at end_lsn is applied and published (they come in order).
  void applied(uint64_t end_lsn, int64_t commit_unix_us);
  ChangefeedCounters& counters() { return counters_; }
  // strata's own writes and peers', recorded while this instance reads the feed.
  OwnWrites& own_writes() { return own_; }
  const policies::PostgresConfig& config() const { return setup_.pg; }
  // How long a changed key's L2 copy refuses fills that may have read PostgreSQL before the
  // change committed: longer than any PostgreSQL read strata waits for.
  int64_t fence_ms() const { return static_cast<int64_t>(setup_.pg.query_timeout_ms) + 1000; }

  // INFO's "# Changefeed" lines.
  std::string info_lines() const;

  // Transactions queued for worker 0 at most; past it the thread stops reading the stream
  // (PostgreSQL keeps the WAL) until worker 0 catches up.
  static constexpr size_t kQueuedTxnsMax = 4096;
  // Rows of one transaction kept at most; a bigger one drops its tables' prefixes instead.
  static constexpr size_t kTxnRowsMax = 100'000;
  // A moved flush position is told at most this often (and at least every status interval).
  static constexpr int64_t kStatusMinMs = 10;
  // While a decoded transaction is not yet visible, its visibility is asked again this often.
  static constexpr int64_t kVisibleRetryMs = 1;

 private:
  void run();
  bool connect_lock(std::string* err);
  bool try_lead();
  bool prepare(std::string* err);
  bool ensure_publication(const TableMap& map, bool* existed, std::string* err);
  bool ensure_slot(bool publication_existed, std::string* err);
  void stream();
  bool handle_copy(std::string_view payload);
  bool decode_failed(const char* what, const protocol::PgError& e);
  bool handle_pgoutput(std::string_view msg);
  void commit_txn(uint64_t end_lsn, int64_t commit_unix_us);
  bool enqueue(ChangefeedTxn txn);
  // Hands the held transactions that are visible now to worker 0, in commit order; false when
  // the lock's connection failed.
  bool release_visible();
  bool send_status();
  void poll_slot();
  void wait_ms(int64_t ms);  // sleeps, woken early by stop()
  void lose_lead(const std::string& why);
  void close_stream();
  void wake_thread();

  Setup setup_;
  PolicyRegistry* registry_;
  Loop* applier_ = nullptr;
  int64_t lock_key_;  // the advisory lock, from the slot's name
  ChangefeedCounters counters_;
  std::atomic<bool> reader_{false};
  OwnWrites own_{&reader_};

  std::thread thread_;
  std::atomic<bool> stopping_{false};
  int wake_fd_ = -1;  // eventfd: stop(), applied()

  // The thread's own (no lock).
  PGconn* lock_conn_ = nullptr;  // the advisory lock and setup SQL
  PGconn* repl_conn_ = nullptr;  // replication=database
  TableMap map_;
  const struct PolicySnapshot* mapped_from_ = nullptr;  // the policies map_ was built from
  RelationCache relations_;
  ChangefeedTxn txn_;  // the transaction being decoded
  uint32_t txn_xid_ = 0;
  // Decoded, waiting to be visible to new snapshots (with their xids), oldest first.
  std::deque<std::pair<ChangefeedTxn, uint32_t>> held_;
  bool snapshot_warned_ = false;
  std::vector<uint64_t> txn_tables_;  // its changes per table of map_ (INFO's, once per commit)
  bool in_txn_ = false;
  bool txn_overflow_ = false;
  bool lost_slot_pending_ = false;  // a slot recreation's drop is queued first thing
  bool ever_standby_ = false;       // another instance held the lock when this one asked
  uint64_t received_lsn_ = 0;       // the newest WAL position heard
  uint64_t server_wal_end_ = 0;     // the server's, from keepalives and data
  uint64_t enqueued_count_ = 0;     // transactions handed to worker 0
  uint64_t idle_lsn_ = 0;           // a keepalive's end of WAL heard with nothing pending
  uint64_t reported_lsn_ = 0;       // the last flush position told to PostgreSQL
  int64_t last_status_ms_ = 0;
  int64_t last_slot_poll_ms_ = 0;

  // Between the thread and worker 0.
  mutable std::mutex mu_;
  std::deque<ChangefeedTxn> queue_;
  std::atomic<uint64_t> applied_lsn_{0};
  std::atomic<uint64_t> applied_count_{0};  // transactions worker 0 reported
  bool all_applied() const { return applied_count_.load(std::memory_order_acquire) == enqueued_count_; }

  // INFO (relaxed atomics and a locked map).
  std::atomic<int> state_{0};  // State
  std::atomic<uint64_t> confirmed_lsn_{0};  // told to PostgreSQL
  std::atomic<uint64_t> received_lsn_info_{0};
  std::atomic<int64_t> retained_bytes_{-1};  // the slot's WAL kept: current - restart_lsn
  std::atomic<int64_t> lag_bytes_{0};        // server WAL end - confirmed
  std::atomic<int64_t> last_lag_us_{0};      // commit to applied, the last transaction
  std::atomic<int64_t> max_lag_us_{0};
  // Commit to applied, in us, of the last kLagSamples transactions (mu_): INFO's percentiles.
  static constexpr size_t kLagSamples = 8192;
  std::vector<int64_t> lag_ring_;
  uint64_t lag_next_ = 0;
  std::map<std::string, uint64_t, std::less<>> per_table_;  // mu_
  std::string last_error_;                                  // mu_
};

}  // namespace strata::proxy
