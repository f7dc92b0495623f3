// What a tracking client's reads leave behind (docs/tracking.md, "What a tracked read costs"):
// the keys of a read-only command remembered before it is served, in the client's TrackedKeys
// and, the first time, in the TrackingTable; a plain GET's left pending for serve_get
// (client_dispatch.cc), which asks the worker's TrackingSeen first. And the way back: a key
// out of both when a change of it reaches the client.
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
  if (seen_bit_ >= 0) ctx_->tracking_seen->forget(seen_bit_, hash);
}

void ClientConn::forget_all_tracked(bool leave) {
  tracking_.remembered.clear();
  if (seen_bit_ < 0) return;
  if (leave) {
    ctx_->tracking_seen->release(seen_bit_);
    seen_bit_ = -1;
  } else {
    ctx_->tracking_seen->forget_all(seen_bit_);
  }
}

bool ClientConn::remember_key(std::string_view key, uint64_t hash) {
  // Present: in the table already. Added, or refused past the client's maximum: the table.
  const TrackedKeys::Insert r = tracking_.remembered.insert(key, hash);
  if (r == TrackedKeys::Insert::kPresent) return true;
  std::vector<TrackingTable::Told> evicted;
  // A key leaves the table for this client before it leaves its TrackedKeys (the tell that
  // follows), and both empty at a flush: a key its TrackedKeys lacks is not in the table for it,
  // unless the set refused a key since it was last emptied, or tracking was off once (the
  // table keeps a client's keys then).
  const bool known_absent = r == TrackedKeys::Insert::kAdded &&
                            !tracking_.remembered.overflowed() && !tracking_keys_kept_;
  TrackingTable::instance().remember(key, hash, client_.id, &evicted, known_absent);
  // Forgotten for room: their readers hear of them as changed (Redis does the same), once
  // this command is under way (through the worker's mailbox), so that this client hears after
  // the command's reply, as from Redis.
  if (!evicted.empty()) {
    const uint32_t here = loop_->index();
    ClientRegistry::instance().post(
        here, [here, evicted = std::move(evicted)] { tell_evicted(here, evicted); });
  }
  return r == TrackedKeys::Insert::kAdded;
}

}  // namespace strata::proxy
