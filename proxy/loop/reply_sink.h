// The client end of a reply, as the parts that answer clients see it (the Redis upstream, the
// tiered path, admin commands): ordered reply slots, nothing else of the client connection.
// A command that waits takes a slot; replies composed later queue behind it, so a pipeline is
// answered in the order it was sent. Parts keep a Token, never a pointer, across waits: the
// client may be gone when the answer arrives (sink_of() then says null).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/loop/event_loop.h"

namespace strata::proxy {

class ReplySink {
 public:
  virtual uint64_t reserve_reply() = 0;  // returns the slot's sequence number
  virtual void complete_reply(uint64_t seq, std::string_view bytes) = 0;
  // For an array assembled from several answers (MGET): `parts` elements, filled one by one.
  virtual uint64_t reserve_array_reply(size_t parts) = 0;
  virtual void complete_part(uint64_t seq, size_t index, std::string_view element_bytes) = 0;
  virtual void fail_reply(uint64_t seq, std::string_view error_line) = 0;  // "-ERR ...\r\n"
  // Raw bytes from a pinned upstream: appended in order after everything before them.
  virtual void append_raw(std::string_view bytes) = 0;
  // Where a reply composed now must go so that it keeps its place in the order.
  virtual std::string* reply_target() = 0;
  virtual int resp_version() const = 0;
  // HELLO relayed through a pinned connection: Redis's reply tells the protocol spoken now.
  virtual void set_resp_version(int version) = 0;
  virtual uint64_t client_id() const = 0;
  virtual std::string_view client_name() const = 0;
  virtual Token sink_token() const = 0;
  // The client's pinned upstream connection went away (error_line for its waiting replies),
  // or it detaches from the client.
  virtual void upstream_lost(std::string_view error_line) = 0;
  virtual void detach_pinned() = 0;

 protected:
  ~ReplySink() = default;
};

// The live reply sink behind a token, or null when it has closed (its slot may have been
// reused: the generation tells).
inline ReplySink* sink_of(const Loop& loop, Token t) {
  Endpoint* e = loop.lookup(t);
  return e != nullptr && !e->closed() ? e->reply_sink() : nullptr;
}

// "-<text>\r\n": an error reply line, as fail_reply() takes it.
std::string error_line(std::string_view text);

}  // namespace strata::proxy
