// The tiered path of one worker: keys whose policy uses PostgreSQL are read L1 -> pending
// write-behind -> L2 (upstream Redis) -> PostgreSQL, filling the tiers on the way back (single
// flight per key, lease and version guards), and written by the policy's strategy. The policy
// layer decides (policy, queue); this class acts (sockets via Upstream and PgPool, journal).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policies/write_plan.h"
#include "proxy/commands/command.h"
#include "proxy/loop/io_driver.h"
#include "proxy/postgres/pg_pool.h"
#include "proxy/tiers/slot_pool.h"
#include "proxy/tiers/tier_shared.h"
#include "proxy/loop/reply_sink.h"
#include "proxy/redis/upstream.h"
#include "proxy/sync/change_seam.h"
#include "proxy/sync/sync_state.h"

namespace strata::proxy {

class Journal;

// What the tiered path needs of the worker it lives on.
struct TierContext {
  Loop* loop = nullptr;
  cache::Store* store = nullptr;
  Upstream* upstream = nullptr;  // L2; null without an upstream Redis
  TierShared* shared = nullptr;
  ChangeSeam* seam = nullptr;
  const SyncState* sync = nullptr;  // null without a sync bus
};

// conflict = append: a stream's name at most this long (its messages' keys add ":<position>"),
// and at most this many positions in one STRATA RANGE.
constexpr size_t kAppendStreamBytesMax = 1024;
constexpr uint64_t kAppendRangeMax = 1000;

// A snapshot page (WebSocket subscriptions, tiers_snapshot.cc): rows in key byte order.
struct SnapshotRow {
  std::string key;
  std::string value;
  uint64_t version = 0;
};
struct SnapshotPage {
  std::vector<SnapshotRow> rows;
  bool done = false;   // no key after the last row
  std::string after;   // !done: the last key this page's read covered (the next page starts
                       // after it, even when every row it read was a pending delete)
  std::string error;   // non-empty: PostgreSQL failed (rows empty)
};
using SnapshotCallback = std::move_only_function<void(SnapshotPage&&)>;

class Tiers {
 public:
  explicit Tiers(const TierContext& ctx);
  ~Tiers();
  bool init(std::string* err);

  // Serves the command if one of its keys is under a PostgreSQL policy; false: not ours.
  bool route(ReplySink* c, const CommandSpec& spec, Args args);
  // The key of `args` under a PostgreSQL policy, if any (for refusing it where the strategies
  // cannot apply: on a connection pinned to Redis, inside MULTI).
  std::optional<std::string_view> postgres_key(const CommandSpec& spec, Args args) const;
  // STRATA FLUSH-BEHIND [timeout_ms]: replies when every write-behind queue is empty.
  void flush_behind_wait(ReplySink* c, int64_t timeout_ms);
  // STRATA CAS key expected_version value [PX ms] on a conflict = version prefix: the new
  // version, or "-CONFLICT ..." with the current one. STRATA VERSION key: [version, value] of
  // the key's row in PostgreSQL ([0, nil]: absent). Both decided by PostgreSQL, never by a
  // cache tier. False: the key is not under a PostgreSQL prefix (the caller answers).
  bool cas(ReplySink* c, std::string_view key, uint64_t expected, std::string_view value,
           int64_t expire_at_ms);
  bool version_of(ReplySink* c, std::string_view key);
  // conflict = append (append.cc; docs/append.md). STRATA APPEND stream value: the message's
  // position. STRATA RANGE stream from count: the messages from position `from`, up to the
  // first not written yet. STRATA HEAD stream: the last position given (0: none). False: the
  // stream is not under an append prefix (the caller answers).
  bool append(ReplySink* c, std::string_view stream, std::string_view value);
  bool append_range(ReplySink* c, std::string_view stream, uint64_t from, uint64_t count);
  bool append_head(ReplySink* c, std::string_view stream);

  // The current values and versions of one key, or of the keys starting with `prefix` after
  // `after` (byte order), at most `limit` of them (a few more when pending writes fall in the
  // page): PostgreSQL's rows with the pending write-behind writes on top, so every
  // acknowledged write is in. False: not under one PostgreSQL policy (a prefix must not span
  // several: a longer policy prefix inside it is refused, *why says so). The callback runs on
  // this worker, unless the worker is stopping.
  bool snapshot(std::string_view key_or_prefix, bool prefix, std::string_view after, size_t limit,
                SnapshotCallback done, std::string* why);

  void on_tick(int64_t now_ms);
  // End of every loop iteration: group-commit the journal, start write-behind flushes due.
  void end_of_iteration(int64_t now_ms);
  PgPool& pool() { return *pool_; }
  TierShared& shared() { return *shared_; }

 private:
  // kRange: one position of STRATA RANGE (multi: the range, part: its index).
  enum class ReadKind : uint8_t { kGet, kExists, kRange };
  struct Waiter {
    Token client;
    uint64_t seq = 0;
    int32_t part = -1;   // GET: -1; MGET: element index
    uint64_t multi = 0;  // EXISTS: the counting op
    ReadKind kind = ReadKind::kGet;
  };
  struct Flight;
  struct WriteReq {
    std::string key;
    std::string value;
    bool is_delete = false;
    int64_t expire_at_ms = 0;  // the command's own expiry (0: none); the plan adds the TTL
    uint64_t multi = 0;
    uint64_t client = 0;  // whose command it is (its change event says so)
    const PolicyEntry* entry = nullptr;  // lives past the request (see PolicyRegistry)
    // STRATA CAS: the version PostgreSQL's row must hold (0: the key must be absent). The
    // reply is then the new version.
    std::optional<uint64_t> expected_version;
    // STRATA APPEND: `key` is the stream; PostgreSQL assigns the message's position, and the
    // reply is that position.
    bool append = false;
  };
  // A command answered once several key operations finish (MSET, DEL a b, EXISTS a b).
  struct Multi {
    Token client;
    uint64_t seq = 0;
    uint32_t remaining = 0;
    int64_t count = 0;
    bool reply_count = false;  // integer reply (DEL, EXISTS); else +OK
    std::string error;         // the first error, as a RESP error line
  };

  // Reads. L1 serves and takes the key unless its policy keeps it out, or the sync bus has
  // been down too long for L1 to be trusted with a synced key.
  bool use_l1(const PolicyEntry& e, std::string_view key) const {
    return e.policy.l1 && (ctx_.sync == nullptr || !ctx_.sync->l1_bypass(key));
  }
  void read(const PolicyEntry& e, std::string_view key, Waiter w);
  void read_l2(Flight* f);
  void read_pg(Flight* f);
  void finish_read(const std::string& key, bool found, std::string_view value,
                   std::string_view error_line);
  void maybe_refresh(const PolicyEntry& e, std::string_view key, int64_t remaining_ms);
  void refresh(const PolicyEntry* e, std::string key);
  // token: the stampede lease this reload holds ("" none), given back once it is done.
  void refresh_pg(const PolicyEntry* e, std::string key, uint64_t lease, std::string token,
                  std::string lease_ver);
  // An L2 answer of the key installed in L1 (guarded by the flight's fill lease) and replied.
  void serve_l2(Flight* f, std::string value, int64_t pttl_ms);

  // Cross-instance stampede control (tiers_lease.cc): before a miss reads PostgreSQL, a lease
  // in Redis; the instances that lose wait for the winner's value in L2, up to a bound.
  bool lease_applies(const PolicyEntry& e) const;
  void miss_to_pg(Flight* f);  // L2 missed: take the lease or wait for it, else PostgreSQL
  void ask_lease(Flight* f);
  void on_lease_reply(const std::string& key, uint64_t id, uint64_t gen, const RedisReply& r);
  void lease_held(Flight* f, int64_t held_ms);
  void lease_timer(const std::string& key, uint64_t id, uint64_t gen);
  bool arm_lease_timer(Flight* f, int64_t at_ms);
  void end_lease_stage(Flight* f);
  Flight* live_flight(const std::string& key, uint64_t id);
  std::string lease_token(uint64_t flight_id) const;
  void init_lease_owner();
  // Gives the lease back (only this token's): deleted, or when PostgreSQL had no row and no
  // write touched the key since (L2's version still `absent_ver`), left as a short "absent"
  // mark that answers the other instances' waits.
  void release_lease(std::string_view key, std::string_view token, std::string_view absent_ver);
  // A write of the key arrived on this worker: a read waiting on another instance's lease stops
  // waiting (writes are never held up by a read lease).
  void yield_lease_wait(const std::string& key);

  // Writes.
  // One key's write in progress: its plan (policies::plan_write) and what its steps produced.
  struct WriteRun {
    WriteReq req;
    policies::WritePlan plan;
    size_t next = 0;           // the first step not issued yet
    uint32_t outstanding = 0;  // reports the current stage still waits for
    uint64_t version = 0;      // given on first use
    uint64_t lease = 0;        // kL1Lease
    uint64_t segment = 0;      // kJournal's segment, for kEnqueueFlush
    int64_t count = 0;         // the reply's count (DEL: the key existed; rows affected)
    bool installed = false;    // kL1Set put the value in
    bool holds_key = false;    // later commands on the key wait for this write (busy_)
    bool stopped = false;      // a failure ended the plan
    // PostgreSQL kept a newer version than this write's (lww: this write lost): the cache
    // tiers drop the key instead of taking the value.
    bool superseded = false;
    std::string error;         // the reply's error line, if any
    // An append's message key (stream:position), once PostgreSQL assigned the position: the
    // steps after kPgWrite write it (req.key stays the stream, which later commands wait on).
    std::string message_key;
    const std::string& target() const { return message_key.empty() ? req.key : message_key; }
  };
  struct Parked {
    uint64_t run;
    policies::PlannedStep step;
  };
  void write(WriteReq req);
  WriteRun* run_of(uint64_t id) { return runs_.find(id); }  // null once the run finished
  void next_stage(uint64_t id, WriteRun* run);
  // A synchronous step reports before returning; false: it went asynchronous (or parked) and
  // reports later through step_done.
  bool start_step(uint64_t id, WriteRun& run, const policies::PlannedStep& s);
  void pg_write_step(uint64_t id, WriteRun& run, const policies::PlannedStep& s);
  void journal_step(uint64_t id, WriteRun& run, const policies::PlannedStep& s);
  void cas_conflict(uint64_t id, const policies::PlannedStep& s);
  bool l2_step(uint64_t id, WriteRun& run, const policies::PlannedStep& s);
  void report_step(WriteRun& run, const policies::PlannedStep& s, bool ok, std::string_view error);
  void step_done(uint64_t id, const policies::PlannedStep& s, bool ok, std::string_view error);
  void finish_run(uint64_t id, WriteRun& run);
  uint64_t run_version(WriteRun& run);
  void repair_l2(const std::string& key);
  static std::string queue_full_error(const policies::Policy& p);
  void l2_write(const WriteReq& req, uint64_t version, RedisCallback cb);
  void l2_install(const PolicyEntry& e, std::string_view key, std::string_view value,
                  uint64_t version, int64_t ttl_ms);
  void retry_parked(int64_t now_ms);
  // The write leaves through the change seam (installed: the new value is the key's now).
  void publish_write(std::string_view key, bool is_delete, bool installed, std::string_view value,
                     uint64_t version, int64_t expire_at_ms, PrefixStats* stats, uint64_t client);

  // Write-behind flushing (tiers_flush.cc).
  struct ArrayForm;
  void flush_due(int64_t now_ms);
  void flush_batch(FlushBatch b);
  void flush_rows(uint64_t batch, size_t first, size_t n);
  void flush_settled(uint64_t batch, size_t first, size_t n, const PgResult& r);
  // The array statement for `sql`'s mapping, or null while unknown or unusable (the catalog
  // is asked once per worker and mapping).
  const ArrayForm* array_form(const MappingSql& sql);
  void array_form_known(const std::string& id, const MappingSql& sql, PgResult&& r);

  // Per-key order: while a write of a key waits on PostgreSQL, later commands on that key (from
  // any connection of this worker) wait behind it, so a connection's commands take effect in
  // the order it sent them, as on Redis.
  // Whether an operation arriving now must queue behind what is in flight for the key.
  // A write asking also ends a lease wait of the key's read (yield_lease_wait).
  bool must_wait(const std::string& key, bool is_read, bool waits_on_reads);
  void enqueue(const std::string& key, std::move_only_function<void()> op);
  void settle_write(const std::string& key);
  void settle_read(const std::string& key);
  void release_key(const std::string& key);

  // Replies.
  uint64_t new_multi(ReplySink* c, uint32_t parts, bool reply_count);
  void multi_done(uint64_t id, int64_t count, std::string_view error_line);
  void reply_value(const Waiter& w, bool found, std::string_view value, std::string_view err);
  void check_flush_waiters(int64_t now_ms);

  bool route_mixed_key(const CommandSpec& spec, uint64_t multi, std::string_view key,
                       std::string_view value);

  TierContext ctx_;
  TierShared* shared_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<Journal> journal_;
  std::unordered_map<std::string, std::unique_ptr<Flight>> flights_;
  uint64_t next_flight_ = 1;
  std::string lease_owner_;  // this worker's part of its lease tokens: random per start
  SlotPool<Multi> multis_;  // a single-key write's too: no allocation per command
  // STRATA RANGE reads in flight: each position read through the tiers, the reply once all are.
  struct RangeRead {
    Token client;
    uint64_t seq = 0;
    uint32_t remaining = 0;
    std::vector<std::optional<std::string>> values;
    std::string error;
  };
  std::unordered_map<uint64_t, RangeRead> ranges_;
  uint64_t next_range_ = 1;
  void range_part(const Waiter& w, bool found, std::string_view value, std::string_view error);
  // Writes in flight (a write allocates no record of its own): a callback of a finished run
  // finds nothing.
  SlotPool<WriteRun> runs_;
  std::deque<Parked> parked_;  // write-behind writes waiting for queue room, in arrival order
  struct FlushWaiter {
    Token client;
    uint64_t seq;
    int64_t deadline_ms;
    int64_t timeout_ms;
  };
  std::vector<FlushWaiter> flush_waiters_;
  struct BatchState {
    FlushBatch batch;
    uint32_t execs_left = 0;
  };
  std::unordered_map<uint64_t, BatchState> batches_;
  // Per PostgreSQL mapping: whether its column types let a batch go as one prepared statement
  // over three arrays (in binary), and that statement; else batches are multi-row VALUES.
  struct ArrayForm {
    enum class State : uint8_t { kAsking, kYes, kNo, kRetry } state = State::kAsking;
    int64_t retry_at_ms = 0;
    std::string sql;
  };
  std::unordered_map<std::string, ArrayForm> array_forms_;
  std::string flush_params_;  // scratch: the encoded arrays of one statement
  uint64_t next_batch_ = 1;
  uint32_t flush_execs_in_flight_ = 0;
  int64_t flush_backoff_until_ms_ = 0;
  uint32_t flush_backoff_ms_ = 0;
  int64_t last_due_check_ms_ = 0;
  std::vector<std::string> l2_repair_;  // keys whose L2 copy may be stale (Redis was down)
  // Per key with something in flight: writes waiting on PostgreSQL, whether a fill is out, and
  // the operations queued behind them, in arrival order. Reads and write-behind writes wait
  // only for writes (a fill's answer is the state before them, and a write-behind write is
  // applied at once, the fill guard keeping its stale answer out of the cache); writes that go
  // to PostgreSQL first also wait for fills, so an earlier read never sees a later write.
  struct KeyState {
    uint32_t writes = 0;
    bool reading = false;
    std::deque<std::move_only_function<void()>> waiting;
  };
  std::unordered_map<std::string, KeyState> busy_;
};

}  // namespace strata::proxy
