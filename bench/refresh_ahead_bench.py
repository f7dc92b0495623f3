#!/usr/bin/python3
"""Refresh-ahead vs plain TTL expiry under a steady read load on hot keys (issue 3, Performance).

Two prefixes over the same kind of rows, both with a short cache TTL (RA_TTL_MS, 1000 ms):
  ra:  refresh-ahead, refresh_point RA_REFRESH_POINT (0.5): a read past half the TTL reloads the
       entry from PostgreSQL in the background
  tt:  write-through with the same TTL: an entry expires and the next read waits for PostgreSQL
RA_KEYS (300) hot keys per prefix are inserted into PostgreSQL. For each prefix in turn:
redis-benchmark `GET <p>:__rand_int__` -r RA_KEYS, RA_CLIENTS (20) clients, first a warm-up (every
key filled, the rate measured), then a run of about RA_SECONDS (10). Printed per prefix, as deltas
over the measured run only (INFO # Policies): pg_waits (reads that waited on PostgreSQL: the
figure issue 3 wants at zero for refresh-ahead), refreshes, pg_hits, misses, and the GET rate and
p50/p99/max latency. Tiers: L1 + PostgreSQL; RA_L2=1 adds an L2 redis-server to both.

Env: RA_SECONDS, RA_KEYS, RA_CLIENTS, RA_TTL_MS, RA_REFRESH_POINT, RA_L2, plus those of
     tier_bench_env.py (STRATA_BIN, STRATA_WORKERS, STRATA_ARGS, BENCH_PG_FSYNC).
"""

import os
import sys

import tier_bench_env as env

kSeconds = float(os.environ.get("RA_SECONDS", "10"))
kKeys = int(os.environ.get("RA_KEYS", "300"))
kClients = int(os.environ.get("RA_CLIENTS", "20"))
kTtlMs = int(os.environ.get("RA_TTL_MS", "1000"))
kRefreshPoint = float(os.environ.get("RA_REFRESH_POINT", "0.5"))
kWithL2 = os.environ.get("RA_L2", "0") == "1"
kWarmupPerKey = 50  # warm-up GETs per hot key: every key read (and filled) with margin
kPrefixes = [  # prefix, label, policy
    ("ra:", "refresh-ahead", {"strategy": "refresh-ahead", "refresh_point": kRefreshPoint,
                              "table": "bench_ra"}),
    ("tt:", "TTL expiry (write-through)", {"strategy": "write-through", "table": "bench_tt"}),
]
kStatFields = ("pg_waits", "refreshes", "pg_hits", "misses", "l1_hits", "l2_hits")


def main():
    env.place_processes()
    pg = env.Postgres().start()
    policies = []
    for prefix, _, p in kPrefixes:
        pg.create_table(p["table"])
        # redis-benchmark's __rand_int__ is the number zero-padded to 12 digits.
        pg.insert_keys(p["table"], f"'{prefix}' || lpad(i::text, 12, '0')", kKeys)
        policies.append(dict(prefix=prefix, l1=True, l2=kWithL2, ttl_ms=kTtlMs, **p))
    redis = env.start_redis() if kWithL2 else None
    strata = env.start_strata(env.config_text(pg, policies), upstream=redis)
    client = env.Client(strata.port)
    probe = f"{kPrefixes[0][0]}{0:012d}"
    if env.call(client, "GET", probe) != env.kValue:
        sys.exit(f"GET {probe}: {env.call(client, 'GET', probe)!r}, want the PostgreSQL row")
    print(f"# refresh-ahead vs TTL expiry: {kKeys} hot keys per prefix in PostgreSQL, ttl_ms"
          f" {kTtlMs}, refresh_point {kRefreshPoint}, GET from {kClients} clients (-P 1),"
          f" ~{kSeconds:g}s after warm-up, tiers {'L1+L2' if kWithL2 else 'L1'}+PG,"
          f" PostgreSQL fsync={'on' if env.pg_durable() else 'off'}", flush=True)
    rows = []
    for prefix, label, _ in kPrefixes:
        command = ["GET", f"{prefix}__rand_int__"]
        warm = env.redis_benchmark(strata.port, command, max(20000, kKeys * kWarmupPerKey),
                                   kClients, 1, kKeys)
        before = env.policy_stats(client)
        res = env.redis_benchmark(strata.port, command, env.sized_requests(warm["rps"], kSeconds),
                                  kClients, 1, kKeys)
        after = env.policy_stats(client)
        if prefix not in after:
            sys.exit(f"INFO # Policies has no line for prefix {prefix}: {sorted(after)}")
        res.update({f: env.stat_delta(before, after, prefix, f) for f in kStatFields})
        rows.append((label, res))
    hdr = (f"{'policy':27} {'pg_waits':>8} {'refreshes':>9} {'pg_hits':>7} {'misses':>6}"
           f" {'GET/s':>8} {'secs':>5} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    print(hdr)
    print("-" * len(hdr))
    for label, r in rows:
        print(f"{label:27} {r['pg_waits']:>8} {r['refreshes']:>9} {r['pg_hits']:>7}"
              f" {r['misses']:>6} {r['rps']:>8.0f} {r['seconds']:>5.1f} {r['p50']:>7.3f}"
              f" {r['p99']:>7.3f} {r['max']:>7.3f}")
    ra, tt = rows[0][1], rows[1][1]
    print(f"reads that waited on PostgreSQL after warm-up: refresh-ahead {ra['pg_waits']}, TTL"
          f" expiry {tt['pg_waits']} (target: 0 for refresh-ahead:"
          f" {'met' if ra['pg_waits'] == 0 else 'NOT met'})")
    env.harness.cleanup()


if __name__ == "__main__":
    main()
