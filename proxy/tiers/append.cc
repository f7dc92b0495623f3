// conflict = append (docs/append.md): streams of messages that never conflict. PostgreSQL gives
// each message the next position of its stream (one gapless total order per stream, whichever
// instance wrote it); the message is then a key of its own, "<stream>:<position>", written
// through the tiers by the prefix's strategy like any other write (write_run.cc), and read back
// by position through the tiers.
#include <charconv>

#include "proxy/loop/log.h"
#include "proxy/tiers/tiers.h"
#include "proxy/tiers/tiers_internal.h"

namespace strata::proxy {

namespace tiers_detail {

uint64_t append_position(std::string_view stream, std::string_view message_key) {
  if (message_key.size() <= stream.size() + 1 || !message_key.starts_with(stream) ||
      message_key[stream.size()] != ':') {
    return 0;
  }
  const std::string_view digits = message_key.substr(stream.size() + 1);
  uint64_t pos = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pos);
  return ec == std::errc() && p == digits.data() + digits.size() ? pos : 0;
}

}  // namespace tiers_detail

namespace {

// The stream's policy when it is an append prefix that PostgreSQL backs; else null.
const PolicyEntry* append_entry(TierShared& shared, std::string_view stream) {
  const PolicyEntry& e = shared.registry->current()->match(stream);
  return e.policy.uses_postgres() && e.policy.append_only() ? &e : nullptr;
}

// Streams are PostgreSQL text keys, and their messages' keys must stay storable too.
bool refuse_stream(ReplySink* c, std::string_view stream) {
  const char* why = tiers_detail::unstorable_key(stream);
  if (why == nullptr && stream.size() <= kAppendStreamBytesMax) return false;
  protocol::ReplyWriter(c->reply_target(), c->resp_version())
      .error("ERR strata: stream '" + tiers_detail::printable(stream) + "' " +
             (why != nullptr ? std::string("cannot be stored in PostgreSQL: it ") + why
                             : "is longer than " + std::to_string(kAppendStreamBytesMax) +
                                   " bytes"));
  return true;
}

}  // namespace

bool Tiers::append(ReplySink* c, std::string_view stream, std::string_view value) {
  const PolicyEntry* e = append_entry(*shared_, stream);
  if (e == nullptr) return false;
  if (refuse_stream(c, stream)) return true;
  WriteReq req;
  req.key = std::string(stream);
  req.value = std::string(value);
  req.entry = e;
  req.append = true;
  req.multi = new_multi(c, 1, true);  // the reply is the position, an integer
  req.client = c->client_id();
  write(std::move(req));
  return true;
}

bool Tiers::append_range(ReplySink* c, std::string_view stream, uint64_t from, uint64_t count) {
  const PolicyEntry* e = append_entry(*shared_, stream);
  if (e == nullptr) return false;
  if (refuse_stream(c, stream)) return true;
  const uint64_t id = next_range_++;
  RangeRead& r = ranges_[id];
  r.client = c->sink_token();
  r.seq = c->reserve_reply();
  r.remaining = static_cast<uint32_t>(count);
  r.values.resize(count);
  if (count == 0) {
    range_part(Waiter{r.client, r.seq, -1, id, ReadKind::kRange}, false, {}, {});
    return true;
  }
  // One read per position, each through the tiers as a GET would be (L1, L2, PostgreSQL):
  // a message is immutable once written, so any tier that has it has the right value.
  std::string key(stream);
  key += ':';
  const size_t base = key.size();
  for (uint64_t i = 0; i < count; ++i) {
    key.resize(base);
    key += std::to_string(from + i);
    read(*e, key, Waiter{r.client, r.seq, static_cast<int32_t>(i), id, ReadKind::kRange});
  }
  return true;
}

void Tiers::range_part(const Waiter& w, bool found, std::string_view value,
                       std::string_view error) {
  auto it = ranges_.find(w.multi);
  if (it == ranges_.end()) return;
  RangeRead& r = it->second;
  if (w.part >= 0) {
    if (found) r.values[static_cast<size_t>(w.part)] = std::string(value);
    if (!error.empty() && r.error.empty()) r.error = std::string(error);
    if (--r.remaining > 0) return;
  }
  RangeRead done = std::move(r);
  ranges_.erase(it);
  ReplySink* c = sink_of(*ctx_.loop, done.client);
  if (c == nullptr) return;
  if (!done.error.empty()) return c->fail_reply(done.seq, done.error);
  // Up to the first position not written yet: positions are gapless, so a later one found
  // (written between the two reads) is left for the next RANGE, and the reply has no hole.
  size_t n = 0;
  while (n < done.values.size() && done.values[n].has_value()) ++n;
  std::string bytes;
  protocol::ReplyWriter out(&bytes, c->resp_version());
  out.array_header(n);
  for (size_t i = 0; i < n; ++i) out.bulk(*done.values[i]);
  c->complete_reply(done.seq, bytes);
}

bool Tiers::append_head(ReplySink* c, std::string_view stream) {
  const PolicyEntry* e = append_entry(*shared_, stream);
  if (e == nullptr) return false;
  if (refuse_stream(c, stream)) return true;
  const uint64_t seq = c->reserve_reply();
  const Token who = c->sink_token();
  Loop* loop = ctx_.loop;
  const PgParam params[] = {{stream, false, false}};
  // PostgreSQL, the authority: a cache tier's view of the stream could trail it.
  pool_->exec(e->sql.head, params, true, [loop, who, seq](PgResult&& r) {
    ReplySink* c = sink_of(*loop, who);
    if (c == nullptr) return;
    if (r.status != PgResult::kOk) {
      return c->fail_reply(seq, error_line("ERR strata: PostgreSQL read failed: " + r.error));
    }
    const uint64_t last = r.rows.empty() ? 0 : tiers_detail::decode_version(r.rows[0][0]);
    std::string bytes;
    protocol::ReplyWriter(&bytes, c->resp_version()).integer(static_cast<int64_t>(last));
    c->complete_reply(seq, bytes);
  });
  return true;
}

}  // namespace strata::proxy
