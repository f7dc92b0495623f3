#include "proxy/tiers/journal_filter.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <unordered_map>

#include "proxy/postgres/pg_conn.h"

namespace strata::proxy {
namespace {

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultCloser {
  void operator()(PGresult* r) const { PQclear(r); }
};

}  // namespace

JournalFilterResult drop_applied_writes(const policies::PostgresConfig& pg,
                                        const PolicySnapshot& snap,
                                        std::vector<RecoveredWrite>* writes,
                                        JournalLedger* ledger) {
  JournalFilterResult res;
  if (writes->empty()) {
    res.checked = true;
    return res;
  }
  const std::string timeout = std::to_string(std::max<uint32_t>(1, pg.connect_timeout_ms / 1000));
  const char* keys[] = {"connect_timeout", "dbname", nullptr};
  const char* vals[] = {timeout.c_str(), pg.conninfo.c_str(), nullptr};
  // expand_dbname: the conninfo string fills in everything; connect_timeout bounds the wait.
  std::unique_ptr<PGconn, PgConnCloser> conn(PQconnectdbParams(keys, vals, 1));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    res.note = conn ? pg_one_line(PQerrorMessage(conn.get())) : "out of memory";
    return res;
  }
  std::vector<RecoveredWrite> kept;
  kept.reserve(writes->size());
  for (RecoveredWrite& w : *writes) {
    const std::string& sql = snap.match(w.key).sql.select;
    const char* params[] = {w.key.c_str()};
    const int lengths[] = {static_cast<int>(w.key.size())};
    const int formats[] = {0};
    std::unique_ptr<PGresult, PgResultCloser> r(
        PQexecParams(conn.get(), sql.c_str(), 1, nullptr, params, lengths, formats, 0));
    bool applied = false;
    if (r && PQresultStatus(r.get()) == PGRES_TUPLES_OK && PQntuples(r.get()) == 1 &&
        !PQgetisnull(r.get(), 0, 1)) {
      const uint64_t pg_version = std::strtoull(PQgetvalue(r.get(), 0, 1), nullptr, 10);
      applied = pg_version >= w.version;
    }
    if (applied) {
      ledger->release(w.segment);
      ++res.dropped;
    } else {
      kept.push_back(std::move(w));
    }
  }
  writes->swap(kept);
  res.checked = true;
  return res;
}

}  // namespace strata::proxy
