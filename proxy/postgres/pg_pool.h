// PostgreSQL, seen from one worker: a small pool of libpq connections in non-blocking pipeline
// mode, their sockets watched by the worker's event loop (IoDriver::poll), statements prepared
// once per connection (by SQL text), reconnect with backoff. Never blocks the worker.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policies/policy_config.h"

namespace strata::proxy {

class Loop;

struct PgParam {
  std::string_view value;  // copied by exec()
  bool is_null = false;
  bool binary = false;  // binary format (bytea as raw bytes); else text
};

struct PgResult {
  enum Status : uint8_t {
    kOk,
    kTransient,  // connection lost, timeout, PostgreSQL down or shutting down: retry later
    kPermanent,  // PostgreSQL refused the statement (constraint, bad type...): retrying won't help
  } status = kOk;
  std::string sqlstate;  // e.g. "23505"; empty when not from the server
  std::string error;     // one line, for clients and logs
  uint64_t affected = 0;  // rows inserted/updated/deleted (PQcmdTuples)
  // Rows of the result; each field in the result format asked for; nullopt for SQL NULL.
  std::vector<std::vector<std::optional<std::string>>> rows;
};

using PgCallback = std::move_only_function<void(PgResult&&)>;

class PgPool {
 public:
  // `setup_sql` runs once on every new connection before it serves anything (e.g. CREATE
  // TABLE IF NOT EXISTS ...), as one simple query, inside a transaction that first takes a
  // fixed advisory lock: setups of every connection, worker and process on one database run
  // one after the other (two CREATE TABLE IF NOT EXISTS at once can fail on pg_type's index).
  PgPool(Loop* loop, const policies::PostgresConfig& config, std::string setup_sql);
  ~PgPool();  // pending callbacks get kTransient "shutting down"

  void start();
  void on_tick(int64_t now_ms);  // reconnects, query timeouts
  // At least one connection is ready.
  bool available() const;
  // Why not: "PostgreSQL 127.0.0.1:5433 unavailable (connection refused)".
  const std::string& unavailable_reason() const;

  // Runs one statement in its own implicit transaction (a pipeline sync follows it), on the
  // least loaded ready connection; prepared on that connection the first time its text is seen.
  // `cb` runs on this worker exactly once: with the result, or kTransient if no connection is
  // ready, the connection is lost, or query_timeout_ms passes. While a connection is being
  // set up, requests wait (bounded) up to connect_timeout_ms. When nothing is connecting (all
  // in backoff) or the wait queue is full, `cb` runs before exec() returns.
  void exec(std::string_view sql, std::span<const PgParam> params, bool binary_result,
            PgCallback cb);
  size_t in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::proxy
