// The running policy table, shared by all workers: an immutable snapshot published through an
// atomic pointer, replaced whole on reload (SIGHUP, STRATA RELOAD) or STRATA POLICY SET. A bad
// file is refused and the running snapshot stays. Per-prefix counters outlive snapshots.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/sync/change_seam.h"
#include "proxy/sync/store_removals.h"
#include "proxy/sync/sync_state.h"
#include "policies/policy_config.h"
#include "policies/policy_table.h"

namespace strata::proxy {

// Counters of one prefix, written by workers (relaxed), read by INFO.
struct PrefixStats {
  std::atomic<uint64_t> l1_hits{0};
  std::atomic<uint64_t> pending_hits{0};  // served from the write-behind queue
  std::atomic<uint64_t> l2_hits{0};
  std::atomic<uint64_t> pg_hits{0};
  std::atomic<uint64_t> misses{0};  // not in PostgreSQL either
  std::atomic<uint64_t> negative_hits{0};
  std::atomic<uint64_t> fills{0};  // values installed in a cache tier by a read
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> write_errors{0};
  std::atomic<uint64_t> wb_batches{0};
  std::atomic<uint64_t> wb_rows{0};
  std::atomic<uint64_t> wb_retries{0};
  std::atomic<uint64_t> refreshes{0};
  std::atomic<uint64_t> pg_waits{0};  // reads whose reply waited on PostgreSQL
  std::atomic<uint64_t> dead_letters{0};
  std::atomic<uint64_t> changes{0};  // change events of the prefix's keys (the change seam)
  // Stampede leases (tiers_lease.cc): misses that took the lease and read PostgreSQL; reads
  // that found it held and waited; waits answered from L2 (the winner's value or its "absent"
  // mark); waits that took the lease over (it lapsed, or was given back without a value);
  // waits past their bound, and waits a local write cut short, both reading PostgreSQL
  // without the lease; misses and refreshes that read PostgreSQL without a lease because
  // Redis was away, failed or slow; refreshes left to another instance (it holds the lease,
  // or L2 was refreshed already and L1 took that).
  std::atomic<uint64_t> lease_won{0};
  std::atomic<uint64_t> lease_waits{0};
  std::atomic<uint64_t> lease_wait_l2{0};
  std::atomic<uint64_t> lease_takeovers{0};
  std::atomic<uint64_t> lease_timeouts{0};
  std::atomic<uint64_t> lease_yields{0};
  std::atomic<uint64_t> lease_redis_fallbacks{0};
  std::atomic<uint64_t> refresh_shared{0};
};

// SQL for one PostgreSQL mapping, built once per snapshot.
struct MappingSql {
  std::string select;  // $1 key -> value, version
  std::string upsert;  // one row: $1 key, $2 value, $3 version (never over a newer version)
  std::string remove;  // $1 key, $2 version
  // The strategies that write PostgreSQL before acknowledging (a client waits on the commit):
  // the later write to reach PostgreSQL wins, whatever the writers' clocks, and keeps the
  // versions increasing: version = max(its own, the row's + 1), RETURNING the version kept.
  // A client that writes through one instance, then through another, sees the second win.
  std::string upsert_latest;  // $1 key, $2 value, $3 version -> version
  std::string remove_latest;  // $1 key
  // Write-behind deletes leave a tombstone (value NULL, the delete's version) instead of
  // removing the row: a journal replay of an older write of the key then finds a newer version
  // and changes nothing, where a missing row would let it come back. $1 key, $2 version.
  std::string tombstone;
  // STRATA CAS. cas_update: $1 key, $2 value, $3 new version, $4 expected version (the row
  // must hold a value at exactly that version). cas_create (expected 0: the key must be
  // absent, or a tombstone): $1 key, $2 value, $3 version. One row back: done, with the
  // version kept (max of $3 and the row's + 1, as upsert_latest).
  std::string cas_update;
  std::string cas_create;
  std::string version_of;  // $1 key -> the version of its live row (none: absent)
  // conflict = append. append: $1 stream, $2 value, $3 version -> [message key, version]; the
  // stream's next position (strata_append, row-locked until commit: one gapless order), and
  // the message's row, in one statement (a failure leaves no gap). head: $1 stream -> last.
  std::string append;
  std::string head;
  bool default_table = false;
  std::string table, key, value, version;  // quoted identifiers
  // Multi-row upsert of n rows ($1..$3n).
  std::string upsert_rows(size_t n) const;
};

struct PolicyEntry {
  policies::Policy policy;
  PrefixStats* stats = nullptr;
  MappingSql sql;
};

struct PolicySnapshot {
  policies::PolicyConfig config;
  policies::PrefixTable<PolicyEntry> table{PolicyEntry{}};
  bool any_postgres = false;
  bool any_tier_off = false;  // some cache-only policy keeps a prefix out of L1 or out of L2
  bool any_cache_ttl = false;  // some cache-only policy has a ttl_ms
  const PolicyEntry& match(std::string_view key) const { return table.match(key); }
};

class PolicyRegistry final : public PrefixCounters, public L1OnlyKeys, public SyncPolicies {
 public:
  PolicyRegistry(std::string path, policies::ConfigContext ctx, policies::PolicyConfig initial);
  ~PolicyRegistry();

  const PolicySnapshot* current() const { return current_.load(std::memory_order_acquire); }
  const std::string& path() const { return path_; }
  // Re-reads the file; on error the running policies stay and the message says why.
  std::expected<void, std::string> reload();
  std::expected<void, std::string> set_field(std::string_view prefix, std::string_view field,
                                             std::string_view value);
  PrefixStats* stats_for(std::string_view prefix);
  // PrefixCounters: the change counter of the policy `key` falls under (the default's too).
  std::atomic<uint64_t>* changes_for(std::string_view key) override {
    return &current()->match(key).stats->changes;
  }
  // SyncPolicies: the key's policy's sync mode, `auto` resolved by whether a bus is configured.
  // A key L1 alone holds (cache strategy without Redis behind it) is never synced: a peer
  // dropping it would lose it.
  policies::SyncMode sync_of(std::string_view key) const override {
    const policies::Policy& p = current()->match(key).policy;
    if (!p.uses_postgres() && (!p.l2 || !ctx_.has_upstream)) return policies::SyncMode::kOff;
    return policies::effective_sync(p.sync, nats_);
  }
  void set_nats(bool configured) { nats_ = configured; }  // before any worker runs
  std::string_view prefix_of(std::string_view key) const override {
    return current()->match(key).policy.prefix;
  }
  bool nats() const { return nats_; }
  // L1OnlyKeys: a cache-strategy policy keeps the key out of Redis.
  bool l1_only(std::string_view key) const override {
    const PolicySnapshot* s = current();
    if (!s->any_tier_off) return false;
    const policies::Policy& p = s->match(key).policy;
    return !p.uses_postgres() && !p.l2;
  }
  // The CREATE TABLE strata runs on each new PostgreSQL connection (empty if none is needed).
  static std::string setup_sql(const policies::PolicyConfig& c);

 private:
  std::unique_ptr<PolicySnapshot> build(policies::PolicyConfig c);
  void publish(std::unique_ptr<PolicySnapshot> s);  // mu_ held

  std::string path_;
  policies::ConfigContext ctx_;
  bool nats_ = false;
  std::mutex mu_;
  std::atomic<const PolicySnapshot*> current_{nullptr};
  // Replaced snapshots are freed after a grace period longer than any request holding a
  // PolicyEntry pointer can last (retire_grace_ms in the .cc); reloads are rare, so this is a
  // few snapshots at most.
  struct Retired {
    std::unique_ptr<PolicySnapshot> snap;
    int64_t at_ms;
  };
  std::vector<Retired> retired_;
  std::unique_ptr<PolicySnapshot> live_;
  std::unordered_map<std::string, std::unique_ptr<PrefixStats>> stats_;
};

std::string quote_ident(std::string_view name);  // "schema"."table" / "column"

}  // namespace strata::proxy
