// A client connection: bytes in -> RESP commands -> native execution or upstream forwarding ->
// replies out, in request order.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/reply_writer.h"
#include "protocol/resp_parser.h"
#include "proxy/commands/command.h"
#include "proxy/commands/commands.h"
#include "proxy/loop/endpoint.h"
#include "proxy/loop/reply_sink.h"
#include "proxy/loop/ring_queue.h"
#include "proxy/resp/client_tracking.h"
#include "proxy/resp/front_context.h"

namespace strata::proxy {

class PinnedUpstream;
struct WriteEffect;

// Client connection states. One function, set_state(), makes every transition.
enum class ClientStateKind : uint8_t {
  kReading,   // input is read and executed as it arrives; replies flow out in order
  kPaused,    // too much output pending or too many replies waiting upstream: input not read
  // a slow command waits for the client's earlier replies before it moves to a lane (Redis
  // must run those first); input not read, the command runs again once they are in
  kHeld,
  kDraining,  // QUIT or protocol error: no more input; closes once the output is flushed
};

// What a sweep over strata's clients found (client_admin.cc): CLIENT LIST's lines by client
// id, how many CLIENT KILL selected (and whether the caller was one).
struct SweepResult {
  std::vector<std::pair<uint64_t, std::string>> lines;
  int64_t count = 0;
  bool self = false;
};

class ClientConn final : public Endpoint, public ReplySink {
 public:
  ClientConn(FrontContext* ctx, int fd, uint64_t id);
  ~ClientConn() override;

  void on_recv(const char* data, long n) override;
  void on_tick(int64_t now_ms) override;
  void on_output_drained() override;
  void on_closed() override;

  // Reply slots: a command waiting on the upstream takes a slot; later replies queue behind it.
  ReplySink* reply_sink() override { return this; }

  // ReplySink.
  uint64_t reserve_reply() override;
  void complete_reply(uint64_t seq, std::string_view bytes) override;
  uint64_t reserve_array_reply(size_t parts) override;
  void complete_part(uint64_t seq, size_t index, std::string_view element_bytes) override;
  void fail_reply(uint64_t seq, std::string_view error_line) override;
  void append_raw(std::string_view bytes) override;
  std::string* reply_target() override;
  int resp_version() const override { return client_.resp_version; }
  void set_resp_version(int version) override { client_.resp_version = version; }
  uint64_t client_id() const override { return client_.id; }
  std::string_view client_name() const override { return client_.name; }
  Token sink_token() const override { return token(); }
  void detach_pinned() override { pinned_ = nullptr; }
  void upstream_lost(std::string_view error_line) override;

  ClientState& state() { return client_; }
  const ClientState& state() const { return client_; }
  ClientStateKind kind() const { return kind_; }
  size_t pending_replies() const { return slots_.size(); }

  // client_admin.cc: what CLIENT LIST shows of this connection; whether it is subscribed (type
  // pubsub).
  ClientInfoFields info_fields(int64_t now_ms) const;
  bool pubsub() const;
  // CLIENT KILL of this connection by itself: it closes once this reply is out.
  void close_after_reply();

  // client_tracking.cc. A key this client tracks changed (flush: every key; writer: whose
  // command changed it): tell it, or its REDIRECT target, as Redis would.
  void tell_invalidated(const KeyChanges& changes, bool flush, bool bcast);
  // The same keys changed, told to this client's REDIRECT target by the worker where they
  // changed: the keys leave this client's records only.
  void forget_changed(const KeyChanges& changes);
  // This client is the REDIRECT target of another: the message for it, in its protocol, after
  // what it was sent so far (nothing when it can take none: RESP2 and not subscribed).
  // False when this client is leaving (QUIT, closed): the sender's REDIRECT is broken.
  bool take_redirected(const std::vector<std::string>& keys, bool flush, int null_resp);
  // This client's REDIRECT target is gone: RESP3, a tracking-redir-broken push; RESP2, which
  // nothing can be pushed to, the connection is closed (its library starts with an empty cache).
  void redirect_broken(uint64_t target);
  const TrackingState& tracking() const { return tracking_; }

 private:
  struct ReplySlot {
    bool ready = false;
    std::string data;
    std::vector<std::string> parts;  // array replies assembled from parts
    size_t parts_missing = 0;
    bool failed = false;
    size_t counted = 0;  // bytes of data included in queued_bytes_
  };

  void set_state(ClientStateKind next);
  void consume(std::string_view input, bool from_carry);
  // Executes one command; false when the connection must stop reading (state changed).
  bool execute(std::span<const std::string_view> args, std::string_view raw);
  // The table entry of a command name; pipelines repeat one command, so the previous one is
  // checked before the table's search.
  const CommandSpec* spec_of(std::string_view name);
  // The complete commands at the start of `rest` (a pipeline's next ones): the L1 lookups of
  // those strata serves itself are prefetched. Returns the bytes looked at.
  size_t prefetch_ahead(std::string_view rest);
  // execute's second half, once the command is counted, authorized and tracked.
  bool dispatch(const CommandSpec* spec, std::span<const std::string_view> args,
                std::string_view raw);
  void run_local(const CommandSpec* spec, std::span<const std::string_view> args);
  // raw: the request's bytes as the client sent them (forwarded as they are when multibulk).
  bool execute_proxied(const CommandSpec* spec, std::span<const std::string_view> args,
                       std::string_view raw);
  // A command on a client with its own upstream connection; true (it keeps reading).
  bool execute_pinned(const CommandSpec* spec, Args args);
  void sample_access(const CommandSpec& spec, Args args);
  // The upstream if it can take a request now; else the client gets its error and nullptr.
  class Upstream* upstream_or_reply();
  void serve_get(std::string_view key);
  void serve_mget(Args keys);
  // INFO in front of Redis: Redis's INFO (on this client's shared connection, after its earlier
  // commands) with strata's own sections appended. False: strata answers alone (INFO strata,
  // or Redis unavailable).
  bool serve_info(Args args);
  // client_admin.cc: CLIENT's subcommands strata answers over all of its clients (INFO, LIST,
  // KILL, UNBLOCK, and ID, NAME, NO-EVICT...) or sends to Redis at once (PAUSE, UNPAUSE).
  // False: the command goes the usual way (TRACKING & co. to a pinned connection; inside MULTI
  // or subscribed, to the client's pinned connection as any command).
  bool serve_client(const CommandSpec& spec, Args args, std::string_view raw);
  // client_tracking.cc: CLIENT TRACKING / TRACKINGINFO / CACHING / GETREDIR.
  void serve_tracking(std::string_view sub, Args args);
  // Before a command runs: with tracking on, the keys a read-only command reads are remembered
  // (CLIENT CACHING's yes/no lasts one command); a plain GET's is left pending (track_pending_)
  // for serve_get.
  void track_command(const CommandSpec& spec, Args args);
  // The pending GET's key remembered, before the GET is served anywhere but serve_get.
  void remember_pending(Args args);
  // `key` in this client's TrackedKeys and, if new there, in the TrackingTable. False: not in
  // its TrackedKeys (full), the table was asked.
  bool remember_key(std::string_view key, uint64_t hash);
  // An L1-hit GET's key the worker's TrackingSeen did not know: remembered in the table by the
  // client's bit (no TrackedKeys: the table's slot is the one record), else by remember_key.
  // True: the table holds the client's bit for the key (TrackingSeen may note the entry).
  bool remember_l1_key(std::string_view key, uint64_t hash);
  // This client as a reader of keys: its bit, asked of the table at its first tracked read.
  TrackingReader tracking_reader();
  // A key out of this client's TrackedKeys, and out of the worker's TrackingSeen for it.
  void forget_tracked(std::string_view key);
  // Every key out of them (the table keeps the client's bit: its keys stay there).
  void forget_all_tracked();
  // The client is closing: out of the table (its bit given back), out of TrackingSeen. Once.
  void leave_tracking();
  // CONFIG SET / GET tracking-table-max-keys: the limit is strata's table's, answered here
  // (true) when the command names nothing else. Redis's own limit bounds the keys it tracks for
  // strata's upstream connections and is left alone: lowered, it would evict L1's keys. A
  // CONFIG SET naming other parameters too goes to Redis (false), and strata's table takes a
  // valid limit as well.
  bool serve_tracking_config(Args args);
  void apply_tracking_max_keys(size_t n);
  void client_list(Args args);
  void client_kill(Args args);
  void client_unblock(Args args);
  // CLIENT UNBLOCK's last step, on the caller's thread: Redis unblocks the connection with id
  // redis_id (0: the target has none, the answer is 0).
  void unblock_upstream(uint64_t seq, const std::string& reason, int64_t redis_id);
  // Runs `part` on every worker that owns clients, on its thread, over its clients; then
  // `finish` on this client's thread with what the parts found (client_admin.cc).
  void sweep(std::function<SweepResult(const std::vector<ClientConn*>&)> part,
             std::function<void(ClientConn& self, SweepResult& all)> finish);
  // HELLO or RESET sent to the pinned connection: strata's view of the client follows (name;
  // RESET: protocol and authentication too).
  void mirror_client_state(const CommandSpec& spec, Args args);
  // Remembers the command for CLIENT LIST's cmd= (Redis's lastcmd).
  void note_command(const CommandSpec* spec, Args args);
  // A slow command must wait for the client's earlier replies (see kHeld).
  bool must_hold(const CommandSpec& spec) const;
  std::unique_ptr<WriteEffect> prepare_write(const CommandSpec& spec, Args args);
  void protocol_error(std::string_view message);
  // client_writes.cc: a write served here leaves through the change seam and gets its
  // cache-strategy policy's TTL; forwarded, the TTL follows it to Redis (PEXPIRE ... NX).
  void after_local_write(const CommandSpec& spec, Args args);
  void policy_ttl_upstream(const CommandSpec& spec, Args args);
  // The absolute expiry a cache-strategy policy gives `key` written now without one (0: none).
  int64_t cache_expiry(std::string_view key) const;
  // The running policies when some cache-strategy policy has a ttl_ms; else null (the usual
  // case, one load and a branch).
  const struct PolicySnapshot* ttl_policies() const;
  void shutdown_server();
  void promote_ready(bool moved = false);
  void update_flow();
  // Brings queued_bytes_ up to date with s.data (after the slot's data changed).
  void count_slot(ReplySlot& s);
  // Pushes a new slot behind the others; the old back slot's size is final from now on.
  ReplySlot& push_slot();
  bool start_pinning();
  void maybe_finish_draining();
  ReplySlot* slot(uint64_t seq);

  FrontContext* ctx_;
  ClientState client_;
  ClientStateKind kind_ = ClientStateKind::kReading;
  protocol::RespParser parser_;
  protocol::ReplyWriter writer_;
  std::string carry_;
  RingQueue<ReplySlot> slots_;
  // Bytes waiting in slots_ (so update_flow need not walk them): exact for every slot but the
  // back one, which reply_target() may still be appending to (update_flow adds it).
  size_t queued_bytes_ = 0;
  uint64_t first_seq_ = 0;  // sequence number of slots_.front()
  uint64_t next_seq_ = 0;
  int64_t last_active_ms_ = 0;
  PinnedUpstream* pinned_ = nullptr;
  // On the pinned connection, a MULTI not yet ended by EXEC, DISCARD or RESET: Redis queues
  // what comes, so nothing may be answered here meanwhile.
  bool pinned_multi_ = false;
  void note_pinned_multi(const CommandSpec* spec);
  bool recv_paused_ = false;
  bool in_consume_ = false;
  const CommandSpec* last_spec_ = nullptr;  // the previous command's table entry
  const CommandSpec* cmd_spec_ = nullptr;   // the last command run, for CLIENT LIST (null: none)
  bool cmd_container_ = false;              // cmd_spec_ groups subcommands
  std::string cmd_full_;                    // "client|list" for a container (empty: unknown)
  // The CLIENT command running now: its request's and arguments' bytes (CLIENT LIST's qbuf and
  // argv-mem of the caller); 0 otherwise.
  uint64_t request_bytes_ = 0;
  uint64_t argv_bytes_ = 0;
  std::vector<std::string_view> keys_;      // scratch: a command's keys (no allocation once grown)
  TrackingState tracking_;
  // The GET being executed is to be remembered (track_command); serve_get or remember_pending
  // does it before the GET is served.
  bool track_pending_ = false;
  // Its bit in the TrackingTable and ctx_->tracking_seen (-1: none, a reader by id), asked for
  // once (seen_bit_asked_), held until the client closes.
  int seen_bit_ = -1;
  bool seen_bit_asked_ = false;
  // Tracking was switched off once: the table may hold keys of this client that its
  // TrackedKeys no longer lists.
  bool tracking_keys_kept_ = false;
  // With a REDIRECT: changes told to the target whose keys this client's records (TrackedKeys,
  // TrackingSeen) still name, their drop on its way here (client_tracking.cc, tell_readers).
  // Its library may have heard and read the key again: such a read goes to the table.
  std::shared_ptr<std::atomic<uint32_t>> forgets_pending_;
  bool forgets_pending() const {
    return forgets_pending_ != nullptr && forgets_pending_->load(std::memory_order_acquire) != 0;
  }
};


}  // namespace strata::proxy
