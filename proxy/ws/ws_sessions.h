// Answers to optimistic writes, per client session, across connections and workers: a client
// that reconnects and resends an operation gets the first answer again instead of a second
// write. A session is the token's subject plus the client's session id; it keeps the answers
// of its last ops_remembered operations, and is forgotten keep_ms after its last use.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace strata::proxy {

class WsSessions {
 public:
  static constexpr size_t kSessionsMax = 1'000'000;

  WsSessions(size_t ops_remembered, int64_t keep_ms)
      : ops_remembered_(ops_remembered), keep_ms_(keep_ms) {}

  enum class Seen {
    kNew,        // not seen: apply it (it is now pending)
    kPending,    // being applied (sent before, not answered yet): wait for its answer
    kAnswered,   // *answer holds the first answer
    kForgotten,  // an old number whose answer is no longer kept
  };
  Seen begin(const std::string& session, int64_t op, int64_t now_ms, std::string* answer);
  void answer(const std::string& session, int64_t op, const std::string& answer_json,
              int64_t now_ms);
  // The answer to a pending op, once there: true with *answer.
  bool lookup(const std::string& session, int64_t op, std::string* answer);
  void expire(int64_t now_ms);
  size_t size() const;

 private:
  struct Session {
    int64_t last_used_ms = 0;
    int64_t max_op = 0;
    std::map<int64_t, std::string> ops;  // empty answer: pending
  };
  size_t ops_remembered_;
  int64_t keep_ms_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Session> sessions_;
};

}  // namespace strata::proxy
