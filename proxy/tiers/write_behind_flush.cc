// Write-behind flushing: at the end of loop iterations a worker takes the batches that are due
// from the shared queues and writes each one to PostgreSQL as a single statement over three
// arrays -- keys text[], values bytea[] (NULL for a delete: the tombstone), versions int8[] --
// sent in binary, one prepared statement whatever the batch size. That needs the mapping's
// columns to be text/varchar, bytea and bigint (asked from the catalog once per worker);
// otherwise batches go as multi-row VALUES upserts in power-of-two chunks. Every statement is
// version-guarded (never replaces a newer version), so retries and replays are idempotent. A
// row PostgreSQL refuses for good fails its whole statement: its rows are then retried one by
// one, so only the bad one is dead-lettered.
#include <algorithm>
#include <bit>
#include <cstdlib>

#include "proxy/loop/log.h"
#include "proxy/tiers/tiers.h"

namespace strata::proxy {
namespace {

constexpr uint32_t kFlushExecsMax = 8;  // write-behind statements in flight per worker
constexpr uint32_t kFlushBackoffStartMs = 50;
constexpr int64_t kArrayFormRetryMs = 10'000;  // the catalog could not be asked: again after

// PostgreSQL type OIDs (catalog/pg_type.dat) of what the array statement sends and writes.
constexpr uint32_t kOidBytea = 17;
constexpr uint32_t kOidInt8 = 20;
constexpr uint32_t kOidText = 25;
constexpr uint32_t kOidVarchar = 1043;
constexpr size_t kArrayHeaderBytes = 20;

constexpr const char* kColumnTypesSql =
    "SELECT a.attname::text, a.atttypid::int8 FROM pg_attribute a WHERE a.attrelid = "
    "$1::regclass AND a.attnum > 0 AND NOT a.attisdropped";

std::string unquote_ident(std::string_view q) {
  if (q.size() < 2 || q.front() != '"' || q.back() != '"') return std::string(q);
  std::string out;
  for (size_t i = 1; i + 1 < q.size(); ++i) {
    out += q[i];
    if (q[i] == '"') ++i;  // "" stands for "
  }
  return out;
}

std::string array_upsert_sql(const MappingSql& s) {
  std::string q = "INSERT INTO " + s.table + " AS t (" + s.key + ", " + s.value + ", " + s.version;
  if (s.default_table) q += ", updated_at";
  q += ") SELECT u.k, u.v, u.ver";
  if (s.default_table) q += ", now()";
  q += " FROM unnest($1::text[], $2::bytea[], $3::int8[]) AS u(k, v, ver) ON CONFLICT (" + s.key +
       ") DO UPDATE SET " + s.value + " = EXCLUDED." + s.value + ", " + s.version + " = EXCLUDED." +
       s.version;
  if (s.default_table) q += ", updated_at = EXCLUDED.updated_at";
  // Never replace a newer version: replays and retries are idempotent.
  q += " WHERE t." + s.version + " < EXCLUDED." + s.version;
  return q;
}

void put_be32(std::string* out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 4);
}

void put_be64(std::string* out, uint64_t v) {
  put_be32(out, static_cast<uint32_t>(v >> 32));
  put_be32(out, static_cast<uint32_t>(v));
}

// PostgreSQL's binary array format, one dimension: ndim, has-null flag, element type, length,
// lower bound; then each element as a length (-1: NULL) and its bytes.
void put_array_header(std::string* out, uint32_t oid, size_t n, bool has_null) {
  put_be32(out, 1);
  put_be32(out, has_null ? 1 : 0);
  put_be32(out, oid);
  put_be32(out, static_cast<uint32_t>(n));
  put_be32(out, 1);
}

// The array statement's three parameters for `rows`, encoded into *buf (views into it).
void encode_rows(std::span<const policies::WriteView> rows, std::string* buf,
                 PgParam (&params)[3]) {
  size_t total = 3 * kArrayHeaderBytes;
  bool deletes = false;
  for (const policies::WriteView& w : rows) {
    total += 4 + w.key.size() + 4 + w.value.size() + 4 + 8;
    deletes = deletes || w.is_delete;
  }
  buf->clear();
  buf->reserve(total);
  size_t at[4] = {0, 0, 0, 0};
  put_array_header(buf, kOidText, rows.size(), false);
  for (const policies::WriteView& w : rows) {
    put_be32(buf, static_cast<uint32_t>(w.key.size()));
    buf->append(w.key);
  }
  at[1] = buf->size();
  put_array_header(buf, kOidBytea, rows.size(), deletes);
  for (const policies::WriteView& w : rows) {
    put_be32(buf, w.is_delete ? 0xffffffffu : static_cast<uint32_t>(w.value.size()));
    if (!w.is_delete) buf->append(w.value);
  }
  at[2] = buf->size();
  put_array_header(buf, kOidInt8, rows.size(), false);
  for (const policies::WriteView& w : rows) {
    put_be32(buf, 8);
    put_be64(buf, w.version);
  }
  at[3] = buf->size();
  for (size_t i = 0; i < 3; ++i) {
    params[i] = PgParam{std::string_view(buf->data() + at[i], at[i + 1] - at[i]), false, true};
  }
}

}  // namespace

void Tiers::flush_due(int64_t now_ms) {
  // No check that PostgreSQL is up: a flush while it is down fails at once (transient), which
  // counts a retry and backs the worker off, and the writes wait in the queue.
  if (flush_execs_in_flight_ >= kFlushExecsMax || now_ms < flush_backoff_until_ms_) return;
  const bool force = shared_->draining.load(std::memory_order_relaxed) ||
                     shared_->flush_waiters.load(std::memory_order_relaxed) > 0;
  std::vector<FlushBatch> batches;
  shared_->write_behind->take(now_ms, force, kFlushExecsMax - flush_execs_in_flight_, &batches);
  for (FlushBatch& b : batches) flush_batch(std::move(b));
}

void Tiers::flush_batch(FlushBatch b) {
  const uint64_t id = next_batch_++;
  BatchState& st = batches_[id];
  st.batch = std::move(b);
  auto& ws = st.batch.writes;
  if (ws.size() > 1 && array_form(st.batch.sql) != nullptr) {
    st.execs_left = 1;
    flush_rows(id, 0, ws.size());
    return;
  }
  // Sets first as multi-row upserts in power-of-two chunks (a handful of prepared statements
  // per mapping), deletes one statement each. Each statement is idempotent on its own.
  std::stable_partition(ws.begin(), ws.end(),
                        [](const policies::WriteView& w) { return !w.is_delete; });
  size_t sets = 0;
  while (sets < ws.size() && !ws[sets].is_delete) ++sets;
  std::vector<std::pair<size_t, size_t>> chunks;
  for (size_t i = 0; i < sets;) {
    const size_t n = std::bit_floor(sets - i);
    chunks.push_back({i, n});
    i += n;
  }
  for (size_t i = sets; i < ws.size(); ++i) chunks.push_back({i, 1});
  st.execs_left = static_cast<uint32_t>(chunks.size());
  for (auto [first, n] : chunks) flush_rows(id, first, n);
}

void Tiers::flush_rows(uint64_t batch, size_t first, size_t n) {
  const FlushBatch& b = batches_.at(batch).batch;
  if (PgWriteObserver* o = shared_->pg_writes) {
    for (const policies::WriteView& w : std::span(b.writes).subspan(first, n)) {
      o->writing(w.key, w.version, w.value, w.is_delete);
    }
  }
  ++flush_execs_in_flight_;
  auto done = [this, batch, first, n](PgResult&& r) {
    --flush_execs_in_flight_;
    flush_settled(batch, first, n, r);
  };
  if (const ArrayForm* af = n > 1 ? array_form(b.sql) : nullptr) {
    PgParam params[3];
    encode_rows(std::span(b.writes).subspan(first, n), &flush_params_, params);
    pool_->exec(af->sql, params, false, std::move(done));
    return;
  }
  std::vector<std::string> versions(n);
  std::vector<PgParam> params;
  std::string sql;
  if (b.writes[first].is_delete) {
    versions[0] = std::to_string(b.writes[first].version);
    params.push_back({b.writes[first].key, false, false});
    params.push_back({versions[0], false, false});
    sql = b.sql.tombstone;
  } else {
    for (size_t i = 0; i < n; ++i) {
      const policies::WriteView& w = b.writes[first + i];
      versions[i] = std::to_string(w.version);
      params.push_back({w.key, false, false});
      params.push_back({w.value, false, true});
      params.push_back({versions[i], false, false});
    }
    sql = n == 1 ? b.sql.upsert : b.sql.upsert_rows(n);
  }
  pool_->exec(sql, params, false, std::move(done));
}

void Tiers::flush_settled(uint64_t batch, size_t first, size_t n, const PgResult& r) {
  auto it = batches_.find(batch);
  if (it == batches_.end()) return;
  BatchState& st = it->second;
  const FlushBatch& b = st.batch;
  const PolicySnapshot* snap = shared_->registry->current();
  PrefixStats* stats = snap->match(b.prefix).stats;
  const int64_t now = ctx_.loop->now_ms();
  if (r.status == PgResult::kPermanent && n > 1) {
    // One bad row fails the whole statement: retry the rows one by one to find it, so the
    // others are not held back.
    st.execs_left += static_cast<uint32_t>(n) - 1;
    for (size_t i = 0; i < n; ++i) flush_rows(batch, first + i, 1);
    return;
  }
  const auto rows = std::span(b.writes).subspan(first, n);
  if (r.status == PgResult::kOk) {
    if (r.affected < n) {
      // Some rows were refused by a newer version already in PostgreSQL (another instance's
      // write, later by the version order): the cache tiers here may hold the loser. Which
      // rows is not known, so every key of the statement is dropped and peers told.
      for (const policies::WriteView& w : rows) {
        ctx_.store->invalidate(w.key);
        publish_write(w.key, false, false, {}, 0, 0, stats, 0);
      }
    }
    shared_->write_behind->settle(b.prefix, rows, true);
    bump(stats->wb_batches);
    bump(stats->wb_rows, n);
    flush_backoff_ms_ = 0;
  } else if (r.status == PgResult::kTransient) {
    shared_->write_behind->settle(b.prefix, rows, false);
    bump(stats->wb_retries);
    flush_backoff_ms_ =
        flush_backoff_ms_ == 0
            ? kFlushBackoffStartMs
            : std::min<uint32_t>(flush_backoff_ms_ * 2, snap->config.postgres.backoff_max_ms);
    flush_backoff_until_ms_ = now + flush_backoff_ms_;
  } else {
    for (const policies::WriteView& w : rows) {
      STRATA_LOG_WARN("write-behind: PostgreSQL refused '%.*s' (version %llu): %s; dead-lettered",
                      static_cast<int>(w.key.size()), w.key.data(),
                      static_cast<unsigned long long>(w.version), r.error.c_str());
      shared_->write_behind->rejected(b.prefix, w.key, w.version,
                                      r.sqlstate.empty() ? r.error : r.sqlstate + " " + r.error,
                                      now);
      bump(stats->dead_letters);
    }
  }
  if (--st.execs_left == 0) batches_.erase(it);
  retry_parked(now);
  check_flush_waiters(now);
}

// ---- the array statement ----

const Tiers::ArrayForm* Tiers::array_form(const MappingSql& sql) {
  std::string id = sql.table + '\n' + sql.key + '\n' + sql.value + '\n' + sql.version;
  auto [it, fresh] = array_forms_.try_emplace(id);
  ArrayForm& f = it->second;
  if (f.state == ArrayForm::State::kYes) return &f;
  if (fresh || (f.state == ArrayForm::State::kRetry && ctx_.loop->now_ms() >= f.retry_at_ms)) {
    f.state = ArrayForm::State::kAsking;
    PgParam table[] = {{sql.table, false, false}};
    pool_->exec(kColumnTypesSql, table, false, [this, id = std::move(id), sql](PgResult&& r) {
      array_form_known(id, sql, std::move(r));
    });
  }
  return nullptr;
}

void Tiers::array_form_known(const std::string& id, const MappingSql& sql, PgResult&& r) {
  auto it = array_forms_.find(id);
  if (it == array_forms_.end()) return;
  ArrayForm& f = it->second;
  if (r.status != PgResult::kOk) {  // PostgreSQL away, or no such table yet
    f.state = ArrayForm::State::kRetry;
    f.retry_at_ms = ctx_.loop->now_ms() + kArrayFormRetryMs;
    return;
  }
  const std::string key = unquote_ident(sql.key), value = unquote_ident(sql.value),
                    version = unquote_ident(sql.version);
  uint32_t key_type = 0, value_type = 0, version_type = 0;
  for (const auto& row : r.rows) {
    if (row.size() < 2 || !row[0] || !row[1]) continue;
    const auto oid = static_cast<uint32_t>(std::strtoul(row[1]->c_str(), nullptr, 10));
    if (*row[0] == key) key_type = oid;
    if (*row[0] == value) value_type = oid;
    if (*row[0] == version) version_type = oid;
  }
  // Another type could take a text, bytea or bigint array element by an assignment cast, but
  // not always with the meaning it has as a parameter of its own (bytea into a text column
  // would store its escaped form): only these take the array statement.
  if ((key_type == kOidText || key_type == kOidVarchar) && value_type == kOidBytea &&
      version_type == kOidInt8) {
    f.state = ArrayForm::State::kYes;
    f.sql = array_upsert_sql(sql);
    return;
  }
  f.state = ArrayForm::State::kNo;
  if (ctx_.loop->index() == 0) {
    STRATA_LOG_INFO(
        "write-behind into %s: multi-row VALUES statements (the array form needs "
        "text, bytea and bigint columns)",
        sql.table.c_str());
  }
}

}  // namespace strata::proxy
