// Keeps L1 coherent with writes made to the upstream Redis by anyone else: every shared upstream
// connection runs CLIENT TRACKING ON REDIRECT <id> NOLOOP, so Redis remembers the keys strata
// read and tells this worker's tracking connection (subscribed to __redis__:invalidate) when
// one of them changes. The invalidated keys are dropped from L1 (and their fill leases with
// them, so a fill racing with the change is not installed). It also reads the markers strata
// publishes after its own writes (own_reports.h): Redis's report of such a write, read before the
// write's marker, is not published as another client's change.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "protocol/reply_scanner.h"
#include "proxy/loop/endpoint.h"
#include "proxy/redis/reply_stream.h"

namespace strata::proxy {

class Upstream;

// Parses one RESP2 pub/sub message; true if it is an invalidation. *flush_all is set when Redis
// invalidates everything (a null key list: FLUSHALL / FLUSHDB).
bool parse_invalidation(std::string_view raw, std::vector<std::string_view>* keys, bool* flush_all);

// A RESP2 pub/sub frame of three elements whose first two are strings ("message", channel, data
// or "subscribe", channel, count): true, with the two and the offset of the third in raw.
bool parse_pubsub(std::string_view raw, std::string_view* kind, std::string_view* channel,
                  size_t* third);

class TrackingConn final : public Endpoint {
 public:
  TrackingConn(Loop* loop, int fd, Upstream* owner);
  void on_recv(const char* data, long n) override;
  void on_connected(int res) override;
  void on_closed() override;

 private:
  void handle(std::string_view raw, const protocol::ReplyScanner& scanner);
  // The message was one of OwnReports' markers or its channel's subscription.
  bool own_marker(std::string_view raw);

  Upstream* owner_;
  bool have_id_ = false;
  bool marked_ = false;  // subscribed to OwnReports' channel
  ReplyStream stream_;
  std::vector<std::string_view> keys_;
};

}  // namespace strata::proxy
