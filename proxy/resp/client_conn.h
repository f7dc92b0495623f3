// A client connection: bytes in -> RESP commands -> native execution or upstream forwarding ->
// replies out, in request order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/reply_writer.h"
#include "protocol/resp_parser.h"
#include "proxy/commands/command.h"
#include "proxy/loop/endpoint.h"
#include "proxy/loop/ring_queue.h"

namespace strata::proxy {

class PinnedUpstream;
struct WriteEffect;

// Client connection states. One function, set_state(), makes every transition.
enum class ClientStateKind : uint8_t {
  kReading,   // input is read and executed as it arrives; replies flow out in order
  kPaused,    // too much output pending or too many replies waiting upstream: input not read
  kDraining,  // QUIT or protocol error: no more input; closes once the output is flushed
};

class ClientConn final : public Endpoint {
 public:
  ClientConn(Worker* worker, int fd, uint64_t id);
  ~ClientConn() override;

  void on_recv(const char* data, long n) override;
  void on_tick(int64_t now_ms) override;
  void on_output_drained() override;
  void on_closed() override;

  // Reply slots: a command waiting on the upstream takes a slot; later replies queue behind it.
  uint64_t reserve_reply();  // returns the slot's sequence number
  void complete_reply(uint64_t seq, std::string_view bytes);
  // For MGET assembled from several fills: part i of the slot's array.
  uint64_t reserve_array_reply(size_t parts);
  void complete_part(uint64_t seq, size_t index, std::string_view element_bytes);
  void fail_reply(uint64_t seq, std::string_view error_line);  // "-ERR ...\r\n"
  // Raw bytes from a pinned upstream: appended in order after everything before them.
  void append_raw(std::string_view bytes);

  ClientState& state() { return client_; }
  ClientStateKind kind() const { return kind_; }
  size_t pending_replies() const { return slots_.size(); }
  // Where a reply composed now must go so that it keeps its place in the order.
  std::string* reply_target();
  int resp_version() const { return client_.resp_version; }
  void detach_pinned() { pinned_ = nullptr; }
  void upstream_lost(std::string_view error_line);

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
  std::unique_ptr<WriteEffect> prepare_write(const CommandSpec& spec, Args args);
  void protocol_error(std::string_view message);
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
  bool recv_paused_ = false;
  bool in_consume_ = false;
  const CommandSpec* last_spec_ = nullptr;  // the previous command's table entry
};

// The live client connection behind a token, or null when it has closed (its slot may have
// been reused: the generation tells).
ClientConn* client_of(Worker* w, Token t);
// "-<text>\r\n": an error reply line, as fail_reply() takes it.
std::string error_line(std::string_view text);

}  // namespace strata::proxy
