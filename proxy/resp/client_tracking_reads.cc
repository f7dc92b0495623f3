// What a tracking client's reads leave behind (docs/tracking.md, "What a tracked read costs"):
// the keys of a read-only command remembered before it is served, in the client's TrackedKeys
// and, the first time, in the TrackingTable (by the client's bit there, or its id); a plain
// GET's left pending for serve_get (client_dispatch.cc), which asks the worker's TrackingSeen
// first, then the table (no TrackedKeys). And the way back: a key out of both when a change of
// it reaches the client; the client's bit given back at its close.
#include "cache/hash.h"
#include "proxy/resp/client_conn.h"
#include "proxy/resp/client_registry.h"
#include "proxy/resp/tracking_seen.h"
#include "proxy/resp/tracking_table.h"

namespace strata::proxy {

void ClientConn::track_command(const CommandSpec& spec, Args args) {
  const bool caching = tracking_.caching;
  tracking_.flush_told = false;  // it may have cached something again
  // CLIENT CACHING's yes/no holds for the one command after it (any CLIENT subcommand keeps it).
  if (spec.name != "client") tracking_.caching = false;
  if ((spec.flags & kReadOnly) == 0 || tracking_.bcast) return;
  if ((tracking_.optin && !caching) || (tracking_.optout && caching)) return;
  // A plain GET in front of Redis goes on to execute_proxied, where serve_get remembers its key
  // against the L1 entry it reads (a repeated read: one compare), or remember_pending does
  // before anything else serves it.
  if (args.size() == 2 && spec.name == "get" && ctx_->upstream != nullptr && pinned_ == nullptr &&
      ctx_->tiers == nullptr) {
    track_pending_ = true;
    return;
  }
  // Read-only scripts track the keys of the commands they run, which strata does not see.
  if (spec.name == "eval_ro" || spec.name == "evalsha_ro" || spec.name == "fcall_ro") return;
  keys_.clear();
  command_keys(spec, args, &keys_);
  for (std::string_view k : keys_) remember_key(k, cache::hash_key(k));
}

void ClientConn::remember_pending(Args args) {
  if (!track_pending_) return;
  track_pending_ = false;
  if (!closed_) remember_key(args[1], cache::hash_key(args[1]));  // closed: its keys are gone
}

void ClientConn::forget_tracked(std::string_view key) {
  const uint64_t hash = cache::hash_key(key);
  tracking_.remembered.erase(key, hash);
  TrackingSeen* seen = ctx_->tracking_seen;
  if (seen_bit_ >= 0 && seen != nullptr) seen->forget(seen_bit_, hash);
}

void ClientConn::forget_all_tracked() {
  tracking_.remembered.clear();
  if (seen_bit_ >= 0 && ctx_->tracking_seen != nullptr) ctx_->tracking_seen->forget_all(seen_bit_);
}

void ClientConn::leave_tracking() {
  if (tracking_.on || seen_bit_ >= 0) {
    TrackingTable::instance().closed(TrackingReader{client_.id, loop_->index(), seen_bit_},
                                     tracking_.remembered);
  }
  tracking_.remembered.clear();
  // The table gives the bit out again only to a client of this worker, on this thread, which
  // claims it in TrackingSeen first (tracking_reader).
  if (seen_bit_ >= 0 && ctx_->tracking_seen != nullptr) ctx_->tracking_seen->release(seen_bit_);
  tracking_.on = false;
  seen_bit_ = -1;
  seen_bit_asked_ = true;  // none again
}

TrackingReader ClientConn::tracking_reader() {
  if (!seen_bit_asked_) {
    seen_bit_asked_ = true;
    seen_bit_ = TrackingTable::instance().acquire_bit(loop_->index(), client_.id);
    if (seen_bit_ >= 0 && ctx_->tracking_seen != nullptr) ctx_->tracking_seen->claim(seen_bit_);
  }
  return TrackingReader{client_.id, loop_->index(), seen_bit_};
}

bool ClientConn::remember_l1_key(std::string_view key, uint64_t hash) {
  const TrackingReader who = tracking_reader();
  if (who.bit < 0) return remember_key(key, hash);
  std::vector<TrackingTable::Told> evicted;
  TrackingTable::instance().remember(key, hash, who, &evicted);
  if (!evicted.empty()) {
    const uint32_t here = loop_->index();
    ClientRegistry::instance().post(
        here, [here, evicted = std::move(evicted)] { tell_evicted(here, evicted); });
  }
  return true;
}

bool ClientConn::remember_key(std::string_view key, uint64_t hash) {
  // Present: in the table already. Added, or refused past the client's maximum: the table.
  const TrackedKeys::Insert r = tracking_.remembered.insert(key, hash);
  if (r == TrackedKeys::Insert::kPresent) {
    if (!forgets_pending()) return true;
    // A change of it may have been told to the REDIRECT target before this read: the table
    // is asked, and may hold keys of this client that its TrackedKeys will lose.
    tracking_keys_kept_ = true;
  }
  std::vector<TrackingTable::Told> evicted;
  // A key leaves the table for this client before it leaves its TrackedKeys (the tell that
  // follows), and both empty at a flush: a key its TrackedKeys lacks is not in the table for it,
  // unless the set refused a key since it was last emptied, or tracking was off once (the
  // table keeps a client's keys then). (A reader by bit: setting it twice is no harm.)
  const bool known_absent = r == TrackedKeys::Insert::kAdded &&
                            !tracking_.remembered.overflowed() && !tracking_keys_kept_;
  TrackingTable::instance().remember(key, hash, tracking_reader(), &evicted, known_absent);
  // Forgotten for room: their readers hear of them as changed (Redis does the same), once
  // this command is under way (through the worker's mailbox), so that this client hears after
  // the command's reply, as from Redis.
  if (!evicted.empty()) {
    const uint32_t here = loop_->index();
    ClientRegistry::instance().post(
        here, [here, evicted = std::move(evicted)] { tell_evicted(here, evicted); });
  }
  return r != TrackedKeys::Insert::kFull;
}

}  // namespace strata::proxy
