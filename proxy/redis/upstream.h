// The upstream Redis, seen from one worker: a few shared pipelined connections (replies matched
// to requests in order), the single-flight table of L1 fills in progress, lanes (connections
// for commands that may run long, and for those that must reach Redis at once), and
// connections pinned to clients that need connection state (MULTI, WATCH, blocking pops,
// SUBSCRIBE). Shared connections speak RESP2; a RESP3 client's replies from them are converted
// by the reply-shape table (protocol/reply_shape.h). Lanes and pinned connections speak the
// protocol of the client whose command they carry.
#pragma once

#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/store.h"
#include "protocol/reply_scanner.h"
#include "proxy/commands/command.h"
#include "proxy/loop/endpoint.h"
#include "proxy/loop/event_loop.h"
#include "proxy/loop/reply_sink.h"
#include "proxy/loop/ring_queue.h"
#include "proxy/loop/server_stats.h"
#include "proxy/redis/reply_stream.h"
#include "proxy/sync/change_seam.h"

namespace strata::proxy {

class Upstream;

// The upstream's own limits (the worker fills them from the server's options).
struct UpstreamConfig {
  uint32_t connections = 2;          // shared pipelined connections per worker
  uint32_t pending_max = 1024;       // requests in flight per shared connection
  // A shared connection silent this long with requests out makes strata ask Redis (a PING on a
  // lane) whether it is alive; it is closed only if that goes unanswered as long, with no
  // command strata knows may be slow in flight (see Upstream::reply_overdue).
  uint32_t reply_timeout_ms = 5000;
  uint32_t backoff_max_ms = 2000;    // longest wait between reconnect attempts
  uint64_t output_buffer_bytes_max = 0;  // a pinned client's unframed backlog past this: closed
  uint64_t fill_ttl_max_ms = 0;          // cap on the L1 lifetime of filled entries (0: none)
};

// What the Redis upstream needs of the worker it lives on, and nothing more.
struct UpstreamContext {
  Loop* loop = nullptr;
  cache::Store* store = nullptr;
  ServerStats* stats = nullptr;
  ChangeSeam* seam = nullptr;                     // L1 changes this upstream makes or hears of
  std::atomic<uint64_t>* forwarded = nullptr;     // the worker's count of forwarded commands
  UpstreamConfig config;
};

// An installing write's values (all its keys together) up to this size are read back with a
// pipelined MGET, which makes Redis track the keys for L1 and shows whether another client's
// write ran between the two; larger ones are dropped from L1 instead of installed (the next
// read fills them, as large a transfer as the read-back).
inline constexpr size_t kInstallVerifyBytesMax = 16 * 1024;

// What happens to L1 when a forwarded command's reply arrives.
struct WriteEffect {
  enum Kind : uint8_t { kNone, kInvalidate, kInstall, kFlushAll } kind = kNone;
  std::vector<std::string> keys;
  std::vector<std::string> values;  // kInstall: one per key
  std::vector<uint64_t> leases;     // kInstall: one per key
  int64_t expire_at_ms = 0;         // kInstall
  uint64_t client = 0;              // whose command it is (the change event says so)
  uint64_t marker = 0;              // OwnReports' marker published after it (0: none)
};

// A fill in progress: one upstream GET+PTTL for any number of waiting clients.
struct Flight {
  std::string key;
  uint64_t lease = 0;
  struct Waiter {
    Token client;
    uint64_t seq;
    int32_t part;  // -1: a GET reply; >= 0: element of an MGET reply
  };
  std::vector<Waiter> waiters;
  std::string value_reply;  // raw reply to GET
  protocol::ReplyKind value_kind = protocol::ReplyKind::kNull;
  std::string value;
};

// A reply to a command strata itself sent (an L2 read or write of the tiered path).
struct RedisReply {
  bool ok = false;  // false: the connection failed before a reply came
  protocol::ReplyKind kind = protocol::ReplyKind::kNull;
  std::string_view raw;
  std::string_view payload;  // bulk/simple/error text
  int64_t integer = 0;
  std::string_view error;  // when !ok: "-ERR upstream ... connection lost\r\n"
};
using RedisCallback = std::move_only_function<void(const RedisReply&)>;

// Where a forwarded command travels.
enum class Route : uint8_t {
  kShared,   // the client's shared connection (or the lane the client is bound to)
  kSlow,     // may run long (kSlow in the command table): a lane, the client bound to it
  kControl,  // must reach Redis at once (SCRIPT KILL, CLIENT PAUSE...): a lane with nothing queued
};
Route route_of(const CommandSpec& spec, Args args);

// A pipelined connection strata multiplexes: a shared one (index < connections; tracking on,
// a reply timeout) or a lane (no tracking, no reply timeout: what it carries may run long).
class UpstreamConn final : public Endpoint {
 public:
  UpstreamConn(Loop* loop, int fd, Upstream* owner, uint32_t index, bool lane);
  void on_recv(const char* data, long n) override;
  void on_connected(int res) override;
  void on_closed() override;
  void on_tick(int64_t now_ms) override;

  bool ready() const { return ready_; }
  bool lane() const { return lane_; }
  uint32_t index() const { return index_; }
  size_t in_flight() const { return pending_.size(); }
  // A lane nobody is bound to and nothing is queued on: the next slow or control command may
  // take it.
  bool idle() const { return lane_ && bound_clients_ == 0 && pending_.empty() && !closed_; }
  // Redis answered something on another connection: the reply timeout starts again.
  void note_alive(int64_t now_ms) { last_recv_ms_ = std::max(last_recv_ms_, now_ms); }
  // Closes the connection; its waiting requests fail with "connection lost".
  void close_for(std::string reason);
  void send_command(std::span<const std::string_view> args);
  // A command already in RESP multibulk form (a client's request, as parsed: Redis reads the
  // same bytes as the same arguments, so they need no re-encoding).
  void send_encoded(std::string_view request);
  // PUBLISH of an OwnReports marker, after the write it marks.
  void send_marker(uint64_t marker);
  // Turns on invalidation tracking (redirected to the worker's tracking connection); the
  // connection serves requests from now on: Redis handles them after this command.
  void enable(int64_t tracking_id);
  bool connected() const { return connected_; }
  // A lane: the protocol its next relayed command must run under (HELLO first if it changes).
  void use_protocol(int resp_version);

  struct Pending {
    enum Kind : uint8_t {
      kRelay,
      kFillValue,
      kFillTtl,
      kTracking,
      kIgnore,
      kCallback,
      kMarker,  // the PUBLISH of an OwnReports marker (its id in seq)
      // The MGET after an installing write (Upstream::send_relay): it holds the write's effect,
      // applied when its reply shows what Redis holds after the write.
      kVerify,
    } kind;
    Token client;
    uint64_t seq = 0;
    // kFill*: owned by the request whose reply is expected next (GET, then PTTL).
    std::unique_ptr<Flight> flight;
    std::unique_ptr<WriteEffect> effect;
    RedisCallback callback;  // kCallback
    // On a lane: the client bound to it by this request (0: none), and whether the request is
    // a slow command (counted in Upstream::slow_in_flight until its reply is in).
    uint64_t bound_client = 0;
    bool slow = false;
    // kRelay on a shared connection for a RESP3 client: the reply's shape program (the reply
    // arrives in RESP2 and is converted); null: relayed as it is.
    const char* resp3_shape = nullptr;
    // kVerify: whether the write before it applied (its reply was neither an error nor nil).
    bool write_ok = false;
  };
  RingQueue<Pending> pending_;

 private:
  friend class Upstream;
  void handle_reply(std::string_view raw, const protocol::ReplyScanner& scanner);
  void fail_all(std::string_view error_line);
  // Every request leaves pending_ through here (answered or failed).
  Pending pop_pending();

  Upstream* owner_;
  uint32_t index_;
  bool lane_;
  bool ready_ = false;
  bool connected_ = false;
  uint32_t bound_clients_ = 0;  // lane: clients whose commands follow their slow one here
  int64_t idle_since_ms_ = 0;   // lane: when it last became idle
  std::string close_reason_ = "connection closed";
  int64_t last_recv_ms_ = 0;
  int resp_version_ = 2;   // the protocol Redis speaks on this connection now
  std::string converted_;  // scratch: a reply converted to RESP3
  ReplyStream stream_;
};

// A client's own upstream connection (MULTI/WATCH, blocking commands, pub/sub...), in the
// client's protocol (Upstream::pin sends HELLO 3 first for a RESP3 client).
// Its replies are framed: each goes to the client's reply slot for its command, so replies
// strata composes itself on that client (STRATA admin, QUIT, keys under a PostgreSQL policy)
// keep their place. Once the connection carries a command whose replies are not one per
// command (SUBSCRIBE and friends, MONITOR, CLIENT REPLY), its bytes are relayed as they come.
class PinnedUpstream final : public Endpoint {
 public:
  PinnedUpstream(Loop* loop, int fd, Upstream* owner, Token client);
  void on_recv(const char* data, long n) override;
  void on_connected(int res) override;
  void on_closed() override;
  void send_command(ReplySink* c, std::span<const std::string_view> args, const CommandSpec* spec);
  // Sends a command whose reply the client does not get (strata keeps Redis's view of the
  // connection in step with its own: CLIENT SETNAME). Only while replies are framed.
  void send_quiet(std::span<const std::string_view> args);
  void detach_client() { client_ = Token{~0u, ~0u}; }
  // Redis's id for this connection (Upstream::pin asks CLIENT ID before the client's first
  // command); 0 until the reply is in. CLIENT UNBLOCK of the client goes to Redis with it.
  int64_t redis_id() const { return redis_id_; }
  void ask_redis_id();
  // Calls fn with redis_id() once the reply to CLIENT ID is in (now if it is; 0 if the
  // connection closes first).
  void when_redis_id(std::function<void(int64_t)> fn);
  // Replies are one per command and no MULTI is open: strata answers the client's CLIENT
  // commands itself (inside MULTI Redis queues them; subscribed, Redis refuses them).
  bool plain() const { return framed_ && !in_multi_; }
  // CLIENT LIST's view: flag letters in Redis's order (P subscribed, x in MULTI, b blocked) and
  // the number of commands queued in MULTI (-1: no MULTI).
  std::string list_flags() const;
  int multi_count() const { return in_multi_ ? static_cast<int>(multi_queued_) : -1; }

 private:
  friend class Upstream;
  struct Waiting {
    uint64_t seq;   // the client's reply slot
    bool hello;     // a HELLO: its reply sets the client's protocol version
    bool slow;      // a kSlow command (counted in Upstream::slow_in_flight)
    bool blocking;  // a blocking command (the client shows as blocked meanwhile)
    bool quiet;     // strata's own (send_quiet): the reply is dropped
    // Its reply means Redis applied the writes sent up to it: the keys written before
    // written_upto (a count since the connection began) leave through the seam then. 0: none
    // (a command queued in MULTI applies at EXEC).
    uint64_t written_upto = 0;
    uint64_t marker = 0;  // quiet: the PUBLISH of this OwnReports marker
  };
  // The written keys up to `upto` (see Waiting) leave through the seam as changed.
  void settle_written(ReplySink* c, uint64_t upto);
  // Ends the client's waiting replies with `error_line` (the connection is gone).
  void fail_waiting(ReplySink* c, std::string_view error_line);
  // Hands complete replies in carry_ to the client; false on a malformed reply.
  bool deliver(ReplySink* c);
  Waiting pop_waiting();
  // Takes the reply to CLIENT ID off the front of carry_; false while it is incomplete.
  bool take_redis_id();
  void answer_id_waiters();
  void note_multi(const CommandSpec& spec);
  // Replies to strata's own commands on this connection not in yet.
  bool own_replies_pending() const {
    return id_pending_ || skip_replies_ > 0 || quiet_waiting_ > 0;
  }
  // Sends what waited for them (held_).
  void release_held();

  Upstream* owner_;
  Token client_;
  bool connected_ = false;
  bool framed_ = true;
  struct Written {
    std::string key;
    bool flush;           // FLUSHALL/FLUSHDB: every key
    uint64_t marker = 0;  // OwnReports' marker published after the command (0: none)
  };
  // The keys written since the last OwnReports marker get one, published after the command
  // that settles them (EXEC for MULTI's).
  void mark_written();
  std::deque<Written> written_keys_;  // invalidated again when the reply arrives
  uint64_t written_settled_ = 0;          // keys taken off written_keys_'s front so far
  uint64_t written_marked_ = 0;           // keys given a marker (or none) so far
  uint32_t hello_relayed_ = 0;            // HELLOs sent unframed whose reply is still to come
  uint32_t skip_replies_ = 0;  // replies to strata's own set-up commands, not relayed
  std::string carry_;          // bytes of a reply not yet complete
  protocol::ReplyScanner scanner_;
  RingQueue<Waiting> waiting_;
  int64_t redis_id_ = 0;
  bool id_pending_ = false;  // the reply to CLIENT ID is not in yet
  std::vector<std::function<void(int64_t)>> id_waiters_;
  bool in_multi_ = false;
  bool pubsub_ = false;
  uint32_t multi_queued_ = 0;
  uint32_t slow_waiting_ = 0;
  uint32_t blocking_waiting_ = 0;
  uint32_t quiet_waiting_ = 0;
  std::string held_;  // commands waiting for own_replies_pending() to clear (SYNC and after)
};

class Upstream {
 public:
  // tracking: keep L1 coherent with CLIENT TRACKING. Off when nothing of Redis's is cached in
  // L1 (pass-through): Redis would record every key read for nothing, at about 2us a request.
  Upstream(const UpstreamContext& ctx, const sockaddr_in& addr, std::string name, bool tracking);
  ~Upstream();

  void start();
  void on_tick(int64_t now_ms);
  bool available() const;
  // "-ERR upstream 127.0.0.1:6379 unavailable (Connection refused)\r\n"
  const std::string& unavailable_error() const { return unavailable_; }
  const std::string& name() const { return name_; }

  // Forwards a command on a shared connection (or the lane the client is bound to); its reply
  // goes to client slot `seq`. raw: the client's bytes for it, sent as they are when they are
  // multibulk (else args are encoded).
  void forward(ReplySink* c, uint64_t seq, std::span<const std::string_view> args,
               std::string_view raw, std::unique_ptr<WriteEffect> effect);
  // Forwards a command of route kSlow or kControl on a lane (see "Lanes" in upstream.cc). kSlow
  // binds the client to its lane until its replies there are all in; the caller holds a slow
  // command back while the client is not bound and still waits for replies, so Redis runs the
  // client's commands in the order it sent them.
  void forward_lane(ReplySink* c, uint64_t seq, Route route, std::span<const std::string_view> args,
                    std::string_view raw, std::unique_ptr<WriteEffect> effect);
  // Whether client_id's commands travel on a lane now (a slow command of its is in flight).
  bool bound(uint64_t client_id) const {
    return !bound_.empty() && bound_.find(client_id) != bound_.end();
  }
  // Reads `key` for the L1 (single flight per worker).
  void fill(ReplySink* c, uint64_t seq, int32_t part, std::string_view key);
  // A write to `key` is on its way: later reads must not join a fill started before it.
  void forget_flight(std::string_view key);
  // A connection of the client's own, in its protocol (null: no socket).
  PinnedUpstream* pin(ReplySink* c);
  // Sends a command of strata's own; `cb` gets its reply. Commands with the same `route_key`
  // travel on one connection, so Redis applies them in the order strata sent them. False
  // (and no callback) when no connection is ready.
  bool call(std::span<const std::string_view> args, std::string_view route_key, RedisCallback cb);
  // Which connection call() sends `route_key`'s commands on (while it is ready): keys with the
  // same slot may share one call and keep their order with every other command on their keys.
  uint32_t route_slot(std::string_view route_key) const;
  uint32_t route_slots() const { return static_cast<uint32_t>(shared_.size()); }
  // As call(), on the shared connection that carries client_id's commands, so Redis runs it
  // after the ones the client sent before (INFO after the client's writes).
  bool call_for(uint64_t client_id, std::span<const std::string_view> args, RedisCallback cb);
  // As call(), at once: on a lane with nothing queued (CLIENT UNBLOCK for a pinned client).
  bool call_control(std::span<const std::string_view> args, RedisCallback cb);

  // Slow commands strata sent to Redis, from every worker, not answered yet (on lanes and on
  // pinned connections). While there are some, Redis silent is Redis busy, and PING is
  // Redis's to answer (-BUSY while a script runs), not strata's.
  static int64_t slow_in_flight();
  static void count_slow(int64_t delta);
  // A shared connection has waited reply_timeout_ms for a reply (see upstream.cc, "Reply
  // timeout").
  void reply_overdue(UpstreamConn* conn, int64_t now_ms);

  // Callbacks from connections.
  void conn_connected(UpstreamConn* conn);
  void conn_ready(UpstreamConn* conn);
  void tracking_ready(int64_t id);
  void tracking_lost(class TrackingConn* conn);
  void conn_lost(UpstreamConn* conn, std::string_view why);
  // A request left a lane (answered or failed).
  void lane_done(UpstreamConn* lane, const UpstreamConn::Pending& p);
  void finish_flight(std::unique_ptr<Flight> f, int64_t pttl, bool ok, std::string_view error_line);
  // ok: Redis acknowledged a change; maybe_applied: the connection was lost after the command
  // went out, so Redis may have run it.
  void apply_effect(const WriteEffect& e, bool ok, bool maybe_applied);
  // An installing write's values are small enough to read back (kInstallVerifyBytesMax).
  static bool verifiable(const WriteEffect& e);
  // A pinned connection is closing: it is no longer the spare.
  void note_pinned_closed(PinnedUpstream* p);
  int new_socket();
  const sockaddr_in& addr() const { return addr_; }
  const UpstreamContext& context() const { return ctx_; }
  Loop* loop() { return ctx_.loop; }

 private:
  // The connection for client_id's next request: the lane it is bound to (follow_lane), else
  // its shared connection; null when none is ready.
  UpstreamConn* pick(uint64_t client_id, bool follow_lane = true);
  void connect_shared(uint32_t index);
  void shared_lost(uint32_t index, UpstreamConn* conn, std::string_view why);
  UpstreamConn* connect_lane();
  // An idle lane, or a new one; for a slow command past lanes_max(), the least loaded lane.
  UpstreamConn* lane_for(Route route);
  size_t lanes_max() const;
  UpstreamConn* bound_lane(uint64_t client_id) const;
  // Queues p on conn: on a lane, counts the binding and the slow command it holds.
  void enqueue(UpstreamConn* conn, UpstreamConn::Pending p);
  void start_probe(int64_t now_ms);
  void tick_lanes(int64_t now_ms);
  // Sends a client's command on conn; its reply goes to slot seq.
  void send_relay(UpstreamConn* conn, ReplySink* c, uint64_t seq,
                  std::span<const std::string_view> args, std::string_view raw,
                  std::unique_ptr<WriteEffect> effect, Route route);
  bool send_call(UpstreamConn* conn, uint64_t bound_client, std::span<const std::string_view> args,
                 RedisCallback cb);
  void connect_tracking();
  // A new pinned connection, connecting; client may be none (~0u) for the spare.
  PinnedUpstream* connect_pinned(Token client);

  UpstreamContext ctx_;
  sockaddr_in addr_;
  std::string name_;
  std::string unavailable_;
  struct Shared {
    UpstreamConn* conn = nullptr;
    int64_t retry_at_ms = 0;
    uint32_t backoff_ms = 0;
  };
  std::vector<Shared> shared_;
  std::vector<std::string_view> tracking_args_;       // scratch for the EXISTS after installs
  std::unordered_map<std::string, Flight*> flights_;  // fills a new reader may join
  bool logged_down_ = false;
  bool tracking_wanted_;
  class TrackingConn* tracking_ = nullptr;
  int64_t tracking_id_ = 0;         // 0: no tracking connection yet
  bool flush_on_tracking_ = false;  // tracking was lost: flush L1 once it is back
  int64_t tracking_retry_at_ms_ = 0;
  uint32_t tracking_backoff_ms_ = 0;
  // A pinned connection made ahead of need, for the next client that pins (null: none).
  PinnedUpstream* spare_ = nullptr;
  std::vector<UpstreamConn*> lanes_;
  struct Binding {
    UpstreamConn* lane;
    uint32_t outstanding;  // the client's requests on it
  };
  std::unordered_map<uint64_t, Binding> bound_;  // client id -> its lane
  UpstreamConn* probe_ = nullptr;                 // the lane carrying the liveness PING
  int64_t probe_sent_ms_ = 0;
};

// Writes the RESP multibulk form of args.
void encode_command(std::string* out, std::span<const std::string_view> args);
// Writes the PUBLISH of an OwnReports marker (own_reports.h).
void encode_marker(std::string* out, uint64_t marker);

}  // namespace strata::proxy
