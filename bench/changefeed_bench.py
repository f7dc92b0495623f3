#!/usr/bin/python3
"""The change feed (issue 14, Performance), in one run: lag, throughput, and its cost on the
write path.

One PostgreSQL (durable commits unless BENCH_PG_FSYNC=off; wal_level=logical), one redis-server
(L2), two strata from the same binary: ON reads the change feed ([postgres] changefeed = true),
OFF does not. Each maps tables of its own. Placement split by default (PostgreSQL alone on the
last core, as deployed; BENCH_PLACEMENT=shared puts everything everywhere).

1. Lag at BENCH_CF_ROWS row changes/s (default 5000): pgbench, throttled (-R), commits
   transactions of BENCH_CF_TXN_ROWS rows (default 10) updating bench_lag directly in SQL for
   BENCH_SECONDS (default 20). Lag is measured by strata itself, per transaction: from the
   commit's timestamp (pgoutput's Commit message; PostgreSQL's clock, the same host's) to the
   moment worker 0 has applied it (L2 scripts answered, L1 dropped, the change published on
   the seam) -- INFO changefeed_lag_p50_ms / p99_ms over the last 8192 transactions.
2. Throughput: pgbench unthrottled for BENCH_SECONDS; rows/s committed (pgbench's transactions
   x rows per transaction) against rows/s decoded and applied by strata over the same window,
   and how long strata took to drain what was left when pgbench stopped.
3. Cost on the write path: redis-benchmark SET, 50 clients, -P 1 and -P 16, on a write-through
   and a write-behind prefix (L1+L2), through ON and OFF alternately (BENCH_ROUNDS, default 2,
   OFF first in odd rounds), same keys, same tables' shape. SET/s, p99 and strata's CPU per
   SET (utime+stime from /proc). ON's own writes come back through the feed and are recognized
   (own_writes_skipped), so its cost is in ON's CPU too (worker 0 applies the feed).
"""

import os
import subprocess
import sys
import tempfile
import time

import tier_bench_env as env
from tier_bench_env import harness, harness_pg

kSeconds = float(os.environ.get("BENCH_SECONDS", "20"))
kRows = int(os.environ.get("BENCH_CF_ROWS", "5000"))
kTxnRows = int(os.environ.get("BENCH_CF_TXN_ROWS", "10"))
kRounds = int(os.environ.get("BENCH_ROUNDS", "2"))
kLagKeys = 100_000
kSlot = "strata_cf_bench"


class Postgres(env.Postgres):
    """The bench's PostgreSQL with logical decoding on."""

    def __init__(self):
        super().__init__()
        self.settings = ["-c", "wal_level=logical", "-c", "max_replication_slots=8",
                         "-c", "max_wal_senders=8"]


def config(pg, tables, changefeed):
    policies = [
        {"prefix": "lag:", "strategy": "write-through", "table": tables["lag"]},
        {"prefix": "wt:", "strategy": "write-through", "table": tables["wt"]},
        {"prefix": "wb:", "strategy": "write-behind", "table": tables["wb"]},
    ]
    text = env.config_text(pg, policies)
    if changefeed:
        text = text.replace(
            "[postgres]\n", "[postgres]\nchangefeed = true\n"
            f'changefeed_slot = "{kSlot}"\nchangefeed_publication = "{kSlot}"\n', 1)
    return text


def info(client):
    text = env.call(client, "INFO", "changefeed")
    out = {}
    for line in text.decode().splitlines():
        if line.startswith("changefeed_") and ":" in line:
            k, v = line.split(":", 1)
            out[k] = v
    return out


def wait_reading(client):
    if not harness.wait_for(lambda: info(client).get("changefeed_state") == "reading",
                            timeout=30):
        sys.exit(f"the change feed did not start: {info(client)}")


def pgbench(pg, script, seconds, rate=None, clients=4):
    path = os.path.join(tempfile.mkdtemp(prefix="strata-cf-bench-"), "txn.sql")
    harness._tmpdirs.append(os.path.dirname(path))
    with open(path, "w") as f:
        f.write(script)
    os.chmod(os.path.dirname(path), 0o755)
    os.chmod(path, 0o644)
    argv = [os.path.join(harness_pg.kPgBinDir, "pgbench"), "-n", "-h", "127.0.0.1", "-p",
            str(pg.port), "-U", harness_pg.kPgUser, "-c", str(clients), "-j", "2", "-T",
            str(int(seconds)), "-f", path, "postgres"]
    if rate:
        argv[1:1] = ["-R", str(rate)]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=seconds + 120)
    out = r.stdout.decode()
    if r.returncode != 0:
        sys.exit(f"pgbench failed:\n{out[-2000:]}")
    for line in out.splitlines():
        if line.startswith("number of transactions actually processed:"):
            return int(line.split(":")[1].split("/")[0])
    sys.exit(f"pgbench: no transaction count:\n{out[-2000:]}")


def update_script(table):
    return (f"\\set k random(0, {kLagKeys - kTxnRows})\n"
            f"UPDATE {table} SET value = convert_to(clock_timestamp()::text, 'UTF8') "
            f"WHERE n BETWEEN :k AND :k + {kTxnRows - 1};\n")


def lag_phase(pg, on):
    before = info(on)
    rate = max(1, kRows // kTxnRows)
    txns = pgbench(pg, update_script("bench_lag"), kSeconds, rate=rate)
    harness.wait_for(lambda: int(info(on)["changefeed_changes"]) -
                     int(before["changefeed_changes"]) >= txns * kTxnRows, timeout=60)
    after = info(on)
    rows = int(after["changefeed_changes"]) - int(before["changefeed_changes"])
    print(f"\n1. lag at {rate * kTxnRows} row changes/s ({rate} transactions/s x {kTxnRows} rows,"
          f" {kSeconds:.0f} s): {txns * kTxnRows} rows committed, {rows} decoded")
    print(f"   commit -> applied on worker 0 (last {after['changefeed_lag_samples']} transactions):"
          f" p50 {after['changefeed_lag_p50_ms']} ms, p99 {after['changefeed_lag_p99_ms']} ms,"
          f" max {after['changefeed_lag_max_ms']} ms   (targets: p50 <= 5, p99 <= 50)")
    return after


def throughput_phase(pg, on):
    before = int(info(on)["changefeed_changes"])
    t0 = time.monotonic()
    txns = pgbench(pg, update_script("bench_lag"), kSeconds)
    t_end = time.monotonic()
    at_end = int(info(on)["changefeed_changes"]) - before
    committed = txns * kTxnRows
    harness.wait_for(lambda: int(info(on)["changefeed_changes"]) - before >= committed,
                     timeout=300, interval=0.05)
    t_drained = time.monotonic()
    decoded = int(info(on)["changefeed_changes"]) - before
    secs = t_end - t0
    print(f"\n2. throughput, pgbench unthrottled ({secs:.1f} s, 4 clients):")
    print(f"   committed {committed / secs:,.0f} rows/s; decoded and applied {at_end / secs:,.0f}"
          f" rows/s in the same window (ratio {at_end / max(1, committed):.3f});"
          f" the rest ({committed - at_end} rows) drained {t_drained - t_end:.2f} s after;"
          f" total decoded {decoded}")


def set_run(port, prefix, pipeline, requests):
    return env.redis_benchmark(port, ["SET", f"{prefix}__rand_int__", env.kValue.decode()],
                               requests, pipeline=pipeline)


def write_cost_phase(servers):
    print(f"\n3. write path, changefeed on vs off ({kRounds} round(s), alternating; median):")
    results = {}
    for rnd in range(kRounds):
        order = ["off", "on"] if rnd % 2 == 0 else ["on", "off"]
        for prefix in ("wt:", "wb:"):
            for pipeline in (1, 16):
                for name in order:
                    srv = servers[name]
                    n = env.sized_requests(20000 if prefix == "wt:" else 60000, kSeconds / 4)
                    if pipeline == 16:
                        n *= 2
                    t0 = env.cpu_ticks(srv.pid)
                    r = set_run(srv.port, prefix, pipeline, n)
                    cpu = env.cpu_seconds(env.cpu_ticks(srv.pid) - t0)
                    r["cpu_us"] = cpu / n * 1e6
                    results.setdefault((prefix, pipeline, name), []).append(r)
    print(f"   {'prefix':6} {'-P':>3} | {'off SET/s':>10} {'on SET/s':>10} {'on/off':>6} |"
          f" {'off p99':>7} {'on p99':>7} | {'off us/SET':>10} {'on us/SET':>10} {'on/off':>6}")

    def med(rs, k):
        v = sorted(r[k] for r in rs)
        return v[len(v) // 2]
    for prefix in ("wt:", "wb:"):
        for pipeline in (1, 16):
            off, on = results[(prefix, pipeline, "off")], results[(prefix, pipeline, "on")]
            print(f"   {prefix:6} {pipeline:>3} | {med(off, 'rps'):>10,.0f} {med(on, 'rps'):>10,.0f}"
                  f" {med(on, 'rps') / med(off, 'rps'):>6.2f} | {med(off, 'p99'):>7.2f}"
                  f" {med(on, 'p99'):>7.2f} | {med(off, 'cpu_us'):>10.1f}"
                  f" {med(on, 'cpu_us'):>10.1f} {med(on, 'cpu_us') / med(off, 'cpu_us'):>6.2f}")


def main():
    env.default_placement = "split"
    env.place_processes()
    print(env.placement_note())
    pg = Postgres().start()
    tables = {}
    for side in ("on", "off"):
        tables[side] = {k: f"bench_{side}_{k}" for k in ("lag", "wt", "wb")}
        for t in tables[side].values():
            pg.create_table(t)
    tables["on"]["lag"] = "bench_lag"
    pg.sql("CREATE TABLE IF NOT EXISTS bench_lag (key text PRIMARY KEY, value bytea, "
           "version bigint, updated_at timestamptz, n int UNIQUE)")
    pg.sql(f"INSERT INTO bench_lag SELECT 'lag:' || i, 'x', 1, now(), i "
           f"FROM generate_series(0, {kLagKeys - 1}) AS i ON CONFLICT DO NOTHING")
    redis = env.start_redis()
    servers = {"on": env.start_strata(config(pg, tables["on"], True), upstream=redis),
               "off": env.start_strata(config(pg, tables["off"], False), upstream=redis)}
    on = env.Client(servers["on"].port)
    wait_reading(on)
    lag_phase(pg, on)
    throughput_phase(pg, on)
    write_cost_phase(servers)
    final = info(on)
    print(f"\n   ON's feed over the run: {final['changefeed_transactions']} transactions,"
          f" {final['changefeed_changes']} changes, {final['changefeed_keys_invalidated']}"
          f" invalidated, {final['changefeed_own_writes_skipped']} own writes recognized,"
          f" retained WAL {final['changefeed_slot_retained_bytes']} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
