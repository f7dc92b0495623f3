#!/usr/bin/env python3
"""The schema set-up (CREATE TABLE IF NOT EXISTS strata_kv, run by every new PostgreSQL
connection) against a fresh database, when many connections run it at once: several workers
with several connections each; several strata processes started together; PostgreSQL down at
start and coming up later (every connection reconnects at about the same time). Two CREATE
TABLE IF NOT EXISTS in flight at once both miss the table and the later one fails with
`duplicate key value violates unique constraint "pg_type_typname_nsp_index"`: neither strata's
log nor PostgreSQL's may show that error (or any failed setup), and write-through works on
every worker."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from policy_util import (  # noqa: E402
    Conn, base_config, finish, kOk, pg_value, policy_block, run_phases)

kWorkers = 4
kPoolSize = 4          # kWorkers * kPoolSize setups race per strata
kProcesses = 3
kClients = 16          # connections spread over the workers by SO_REUSEPORT
kRounds = 4            # each scenario again on a fresh database: the race is a matter of timing
# In strata's log: a connection whose setup failed. In PostgreSQL's (warnings and up): any
# ERROR, e.g. the duplicate key above or `type "strata_kv" already exists`.
kStrataMarks = ("setup query failed", "duplicate key value", "already exists")
kPgMarks = ("ERROR:",)


def config(pg, db):
    text = base_config(pg, [policy_block("wt:", "write-through")], pool_size=kPoolSize)
    return text.replace(pg.conninfo(), pg.conninfo(db))


def fresh_db(pg, db):
    pg.sql(f"DROP DATABASE IF EXISTS {db}")
    pg.sql(f"CREATE DATABASE {db}")


def start(pg, db, tag):
    return harness.start_strata_config(config(pg, db), tag=tag,
                                       extra=("--workers", str(kWorkers)))


def log_from(path, offset):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def bad_lines(text, marks):
    return [line for line in text.splitlines() if any(m in line for m in marks)]


def writes_work(chk, pg, db, srv, tag):
    """A write-through SET from kClients connections (every worker, most likely) succeeds and
    reaches the table; retried while PostgreSQL is still being connected to."""
    conns = [Conn(srv.port) for _ in range(kClients)]
    keys = [f"wt:{tag}-{i}" for i in range(kClients)]

    def all_set():
        return all(c.call("SET", k, f"v-{k}") == kOk for c, k in zip(conns, keys))

    chk.ok(harness.wait_for(all_set, timeout=30, interval=0.2),
           f"{tag}: write-through SETs succeed on every connection",
           [c.call("SET", keys[0], "x") for c in conns[:1]])
    got = pg.rows(f"SELECT count(*) FROM strata_kv WHERE key LIKE 'wt:{tag}-%'", dbname=db)
    chk.eq(got, [[str(kClients)]], f"{tag}: every write is in {db}.strata_kv")
    for c in conns:
        c.close()


def check_logs(chk, tag, servers, pg, pg_offset):
    for srv in servers:
        bad = bad_lines(log_from(srv.log_path, 0), kStrataMarks)
        chk.ok(not bad, f"{tag}: no failed setup in {srv.name}'s log", bad[:3])
    bad = bad_lines(log_from(pg.log_path, pg_offset), kPgMarks)
    chk.ok(not bad, f"{tag}: no failed CREATE TABLE in PostgreSQL's log", bad[:3])


def many_workers(chk, pg):
    """One strata, kWorkers workers x kPoolSize connections, all set up at start."""
    for r in range(kRounds):
        db = f"setup_w{r}"
        fresh_db(pg, db)
        pg_offset = log_size(pg.log_path)
        srv = start(pg, db, f"strata-setup-w{r}")
        writes_work(chk, pg, db, srv, f"workers{r}")
        check_logs(chk, f"workers{r}", [srv], pg, pg_offset)
        srv.stop()


def many_processes(chk, pg):
    """kProcesses strata started at the same time against one fresh database."""
    for r in range(kRounds):
        db = f"setup_p{r}"
        fresh_db(pg, db)
        pg_offset = log_size(pg.log_path)
        servers = harness.start_strata_configs([config(pg, db)] * kProcesses,
                                               extra=("--workers", str(kWorkers)),
                                               tag=f"strata-setup-p{r}-")
        for i, srv in enumerate(servers):
            writes_work(chk, pg, db, srv, f"processes{r}-{i}")
        check_logs(chk, f"processes{r}", servers, pg, pg_offset)
        for srv in servers:
            srv.stop()


def postgres_late(chk, pg):
    """PostgreSQL is down when strata starts; once it is up, every connection of every worker
    sets up at about the same time."""
    for r in range(kRounds):
        db = f"setup_l{r}"
        fresh_db(pg, db)
        pg.stop()
        srv = start(pg, db, f"strata-setup-l{r}")
        c = Conn(srv.port)
        chk.ok(c.call("SET", "wt:late-down", "x") != kOk,
               f"late{r}: write-through refused while PostgreSQL is down")
        c.close()
        pg_offset = log_size(pg.log_path)
        pg.start()
        writes_work(chk, pg, db, srv, f"late{r}")
        check_logs(chk, f"late{r}", [srv], pg, pg_offset)
        srv.stop()


def main():
    pg = harness.start_postgres("pg-setup")
    chk = harness.Checks()
    run_phases(chk, [(many_workers, (chk, pg)), (many_processes, (chk, pg)),
                     (postgres_late, (chk, pg))])
    return finish(chk, [])


if __name__ == "__main__":
    sys.exit(main())
