// Snapshots for WebSocket subscriptions: PostgreSQL's rows (the system of record) with the
// pending write-behind writes laid over them, so a snapshot holds every acknowledged write.
#include <algorithm>
#include <map>

#include "proxy/tiers/policy_registry.h"
#include "proxy/tiers/tiers.h"
#include "proxy/tiers/tiers_internal.h"

namespace strata::proxy {
namespace {

using tiers_detail::decode_version;

// The least string above every string starting with `prefix` (byte order); empty: none.
std::string prefix_upper_bound(std::string_view prefix) {
  std::string up(prefix);
  while (!up.empty() && static_cast<unsigned char>(up.back()) == 0xFF) up.pop_back();
  if (!up.empty()) up.back() = static_cast<char>(static_cast<unsigned char>(up.back()) + 1);
  return up;
}

// Lays pending writes over PostgreSQL's rows: a pending value replaces the row, a pending
// delete removes it, a key only pending is added. Keys past `bound` (when set) belong to a
// later page.
void overlay(std::vector<SnapshotRow>* rows, std::vector<policies::PendingWrite>& pending,
             std::string_view after, const std::string* bound) {
  std::map<std::string, SnapshotRow, std::less<>> merged;
  for (SnapshotRow& r : *rows) {
    std::string k = r.key;
    merged.emplace(std::move(k), std::move(r));
  }
  for (policies::PendingWrite& w : pending) {
    if (w.key <= after || (bound != nullptr && w.key > *bound)) continue;
    auto it = merged.find(w.key);
    if (it != merged.end() && it->second.version > w.version) continue;  // PostgreSQL is newer
    if (w.is_delete) {
      if (it != merged.end()) merged.erase(it);
      continue;
    }
    SnapshotRow r{w.key, std::move(w.value), w.version};
    merged.insert_or_assign(std::move(w.key), std::move(r));
  }
  rows->clear();
  for (auto& [k, r] : merged) rows->push_back(std::move(r));
}

}  // namespace

bool Tiers::snapshot(std::string_view key_or_prefix, bool prefix, std::string_view after,
                     size_t limit, SnapshotCallback done, std::string* why) {
  const PolicySnapshot* snap = shared_->registry->current();
  const PolicyEntry& e = snap->match(key_or_prefix);
  if (!e.policy.uses_postgres()) return false;
  if (prefix) {
    if (!key_or_prefix.starts_with(e.policy.prefix)) return false;
    for (const policies::Policy& p : snap->config.policies) {
      if (p.prefix.size() > key_or_prefix.size() && p.prefix.starts_with(key_or_prefix)) {
        *why = "prefix '" + std::string(key_or_prefix) + "' spans the policy of prefix '" +
               p.prefix + "' too: subscribe to each policy's keys separately";
        return false;
      }
    }
  }
  std::vector<policies::PendingWrite> pending;
  if (shared_->write_behind) {
    shared_->write_behind->collect(e.policy.prefix, key_or_prefix, &pending);
    if (!prefix) {
      std::erase_if(pending, [&](const policies::PendingWrite& w) { return w.key != key_or_prefix; });
    }
  }
  const std::string key(key_or_prefix);
  const std::string from(after);
  if (!prefix) {
    const PgParam params[] = {{key, false, false}};
    pool_->exec(e.sql.select, params, true,
                [key, pending = std::move(pending), done = std::move(done)](PgResult&& r) mutable {
                  SnapshotPage page;
                  page.done = true;
                  if (r.status != PgResult::kOk) {
                    page.error = r.error;
                    return done(std::move(page));
                  }
                  if (!r.rows.empty() && r.rows[0][0].has_value()) {
                    page.rows.push_back({key, std::move(*r.rows[0][0]), decode_version(r.rows[0][1])});
                  }
                  overlay(&page.rows, pending, {}, nullptr);
                  done(std::move(page));
                });
    return true;
  }
  const std::string upper = prefix_upper_bound(key_or_prefix);
  const std::string c = " COLLATE \"C\"";
  const std::string sql = "SELECT " + e.sql.key + ", " + e.sql.value + ", " + e.sql.version +
                          " FROM " + e.sql.table + " WHERE " + e.sql.key + c + " > $1" + c +
                          " AND " + e.sql.key + c + " >= $2" + c +
                          " AND ($3::text IS NULL OR " + e.sql.key + c + " < $3" + c + ") AND " +
                          e.sql.value + " IS NOT NULL ORDER BY " + e.sql.key + c + " LIMIT $4";
  const std::string limit_text = std::to_string(limit);
  const PgParam params[] = {{from, false, false},
                            {key, false, false},
                            {upper, upper.empty(), false},
                            {limit_text, false, false}};
  pool_->exec(sql, params, true,
              [from, limit, pending = std::move(pending),
               done = std::move(done)](PgResult&& r) mutable {
                SnapshotPage page;
                if (r.status != PgResult::kOk) {
                  page.error = r.error;
                  return done(std::move(page));
                }
                for (auto& row : r.rows) {
                  if (!row[0] || !row[1]) continue;
                  page.rows.push_back({std::move(*row[0]), std::move(*row[1]), decode_version(row[2])});
                }
                page.done = r.rows.size() < limit;
                const std::string bound = page.done || page.rows.empty() ? "" : page.rows.back().key;
                if (!page.done) page.after = bound;
                overlay(&page.rows, pending, from, page.done ? nullptr : &bound);
                done(std::move(page));
              });
  return true;
}

}  // namespace strata::proxy
