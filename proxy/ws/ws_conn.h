// One WebSocket connection: the HTTP upgrade, frames in and out, the channel's messages
// (docs/websocket.md), its subscriptions, its send queue with per-key merging when the client
// falls behind, and its optimistic writes. A write runs through the tiered path exactly as a
// RESP client's does, with this connection as the client (a ReplySink): same strategy,
// journal, PostgreSQL statements and change events.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/http_upgrade.h"
#include "protocol/ws_frame.h"
#include "protocol/ws_message.h"
#include "proxy/loop/endpoint.h"
#include "proxy/loop/reply_sink.h"
#include "proxy/ws/ws_front.h"
#include "proxy/ws/ws_hub.h"
#include "proxy/ws/ws_token.h"

namespace strata::proxy {

class WsFront;
struct SnapshotPage;

// Close codes of the channel (beyond RFC 6455's).
constexpr uint16_t kWsCloseTokenExpired = 4001;
constexpr uint16_t kWsCloseSlow = 4008;
// Writes of one connection waiting for their answer (from the tiers, or resent while their
// first sending is): past it a write is refused with nack rate_limited.
constexpr size_t kWsOpsInFlightMax = 1024;

class WsConn final : public Endpoint, public ReplySink {
 public:
  WsConn(WsFront* front, int fd, uint64_t id);
  ~WsConn() override;

  void on_recv(const char* data, long n) override;
  void on_tick(int64_t now_ms) override;
  void on_output_drained() override;
  void on_closed() override;
  ReplySink* reply_sink() override { return this; }

  // The front's fan-out: a change of a key this connection subscribes to.
  void deliver(const WsChangePtr& c);
  // The front's turn for this connection: the changes queued in its send chain go to the
  // kernel at this iteration's flush; their latency samples go into *latency.
  void flush_turn(int64_t now_ms, WsLatencyBatch* latency);
  // This connection's own write made a change (the seam's event): its version and position.
  void own_change(std::string_view key, uint64_t version, uint64_t seq);
  // FLUSHALL: every subscription is snapshotted again.
  void resync();
  uint64_t id() const { return id_; }

  // ReplySink: the answers of the tiered path to this connection's writes.
  uint64_t reserve_reply() override;
  void complete_reply(uint64_t seq, std::string_view bytes) override;
  uint64_t reserve_array_reply(size_t parts) override;
  void complete_part(uint64_t seq, size_t index, std::string_view element_bytes) override;
  void fail_reply(uint64_t seq, std::string_view error_line) override;
  void append_raw(std::string_view) override {}
  std::string* reply_target() override;
  int resp_version() const override { return 2; }
  void set_resp_version(int) override {}
  uint64_t client_id() const override { return id_; }
  std::string_view client_name() const override { return "websocket"; }
  Token sink_token() const override { return token(); }
  void upstream_lost(std::string_view) override {}
  void detach_pinned() override {}

 private:
  enum class State : uint8_t { kHandshake, kOpen, kClosing };
  struct Sub {
    std::string key;
    bool prefix = false;
  };
  // A write waiting on the tiers.
  enum class OpKind : uint8_t { kSet, kDel, kCas, kCasDel, kAppend, kVersionOf };
  struct Op {
    int64_t op = 0;
    OpKind kind = OpKind::kSet;
    std::string key;
    uint64_t version = 0;  // from the change seam (own_change)
    uint64_t seq = 0;
    bool changed = false;
    std::string conflict_message;  // kVersionOf: the CONFLICT line it answers
  };
  // What waits behind a snapshot or a slow client, in order.
  struct Held {
    WsChangePtr change;  // or
    std::string frame;   // a whole frame (an ack)
  };

  // Handshake.
  void handshake(std::string_view input);
  void refuse(const protocol::HttpError& e);
  void refuse(uint16_t status, std::string_view message);
  bool accept_token(std::string_view token, std::string* why);
  // Frames and messages.
  void on_frames(std::string_view input);
  void on_message(std::string_view text);
  void close_with(uint16_t code, std::string_view reason);
  void send_text(std::string_view json);
  // Messages.
  void on_sub(protocol::WsClientMessage& m);
  void on_unsub(int64_t id);
  void on_write(protocol::WsClientMessage& m);
  void hello();
  void snapshot_next(int64_t id, std::string after, size_t sent);
  void on_snapshot_page(int64_t id, size_t sent, SnapshotPage&& page);
  void snapshot_done();
  bool may_read(std::string_view key, bool prefix) const;
  bool may_write(std::string_view key) const;
  // Writes.
  void start_op(const protocol::WsClientMessage& m);
  void answer(int64_t op, std::string json, bool is_ack);
  void finish_op(uint64_t seq, std::string_view reply);
  void nack(int64_t op, std::string_view reason, std::string_view message);
  // Sending, with backpressure.
  void put_change(const WsChangePtr& c);
  void put_frame(std::string frame);
  void flush_merged();
  void drop_backlog();
  void release_held();

  WsFront* front_;
  uint64_t id_;
  // What a fan-out reads and writes per delivery, next to Endpoint's send chain (the same few
  // cache lines; the handshake's and the decoder's state come after).
  State state_ = State::kHandshake;
  // Changes in out_ waiting for this connection's turn (WsFront::flush_slice).
  bool flush_queued_ = false;
  uint32_t queued_changes_ = 0;
  int64_t queued_at_ms_ = 0;  // the oldest one's append time
  uint64_t last_seq_ = 0;  // the last change handed to this client (no change twice)
  uint32_t snapshots_ = 0;  // in flight: deliveries are held meanwhile
  // A slow client: the latest change per key, sent once it catches up.
  std::map<std::string, WsChangePtr, std::less<>> merged_;
  int64_t behind_since_ms_ = 0;
  std::vector<Held> held_;  // vectors, not deques: an idle connection allocates nothing
  size_t held_bytes_ = 0;
  std::vector<std::string> after_merged_;  // acks that follow merged changes
  int64_t opened_ms_ = 0;
  std::string head_;  // the upgrade request so far (handshake only)
  protocol::HttpUpgradeParser http_;
  protocol::WsFrameDecoder frames_;
  // Auth.
  bool has_token_ = false;
  WsClaims claims_;
  std::string session_;
  // Subscriptions, by the client's id.
  std::map<int64_t, Sub> subs_;
  // Writes.
  std::map<uint64_t, Op> ops_;  // by reply seq
  uint64_t next_reply_seq_ = 1;
  std::string immediate_;       // reply_target() during a tiers call
  std::optional<Op> starting_;  // the op that call is for, until it reserves a reply
  double write_tokens_ = 0;
  int64_t write_tokens_ms_ = 0;
  std::vector<int64_t> awaiting_;  // resent ops still pending elsewhere
};

}  // namespace strata::proxy
