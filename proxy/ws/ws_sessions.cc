#include "proxy/ws/ws_sessions.h"

namespace strata::proxy {

WsSessions::Seen WsSessions::begin(const std::string& session, int64_t op, int64_t now_ms,
                                   std::string* answer) {
  std::lock_guard g(mu_);
  if (sessions_.size() >= kSessionsMax && sessions_.find(session) == sessions_.end()) {
    // Full: the session is not remembered, so a resend would be applied again. Never reached
    // below a million live sessions within keep_ms.
    return Seen::kNew;
  }
  Session& s = sessions_[session];
  s.last_used_ms = now_ms;
  auto it = s.ops.find(op);
  if (it != s.ops.end()) {
    if (it->second.empty()) return Seen::kPending;
    *answer = it->second;
    return Seen::kAnswered;
  }
  if (op <= s.max_op) return Seen::kForgotten;  // numbers only increase: an old one
  s.max_op = std::max(s.max_op, op);
  s.ops.emplace(op, std::string());
  while (s.ops.size() > ops_remembered_ && !s.ops.empty()) s.ops.erase(s.ops.begin());
  return Seen::kNew;
}

void WsSessions::answer(const std::string& session, int64_t op, const std::string& answer_json,
                        int64_t now_ms) {
  std::lock_guard g(mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  it->second.last_used_ms = now_ms;
  auto o = it->second.ops.find(op);
  if (o != it->second.ops.end()) o->second = answer_json;
}

bool WsSessions::lookup(const std::string& session, int64_t op, std::string* answer) {
  std::lock_guard g(mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return false;
  auto o = it->second.ops.find(op);
  if (o == it->second.ops.end() || o->second.empty()) return false;
  *answer = o->second;
  return true;
}

void WsSessions::expire(int64_t now_ms) {
  std::lock_guard g(mu_);
  std::erase_if(sessions_, [&](const auto& kv) { return kv.second.last_used_ms + keep_ms_ < now_ms; });
}

size_t WsSessions::size() const {
  std::lock_guard g(mu_);
  return sessions_.size();
}

}  // namespace strata::proxy
