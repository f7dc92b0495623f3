#!/usr/bin/python3
"""Read-through per tier: hit ratio and latency of L1 hits, L2 hits and PostgreSQL fills, side by
side (issue 3, Performance).

Three write-through prefixes over one table, TIERS_KEYS (5000) keys each:
  t1:  l1 + l2, keys SET through strata        -> every GET should be an L1 hit
  t2:  l2 only (l1 = false), keys SET through strata (so Redis holds them) -> L2 hits
  t3:  l1 + l2, keys inserted into PostgreSQL only -> the first GET of each is a PostgreSQL fill
       (L1 and L2 miss), the second GET an L1 hit (the fill installed it)
Each phase reads every key of its prefix once, in random order, one request at a time on one
connection, timing each GET in Python (so ~10-30 us of client overhead is in every figure; the
"redis direct" row, the same GETs sent to redis-server itself, shows that floor). The hit ratio is
the share of the phase's reads INFO # Policies counts in the intended tier (l1_hits, l2_hits,
pg_hits), a check that each phase measured what it names.

Env: TIERS_KEYS, TIERS_SEED (1), plus those of tier_bench_env.py (STRATA_BIN, STRATA_WORKERS,
     STRATA_ARGS, BENCH_PG_FSYNC).
"""

import os
import random
import sys
import time

import tier_bench_env as env

kKeys = int(os.environ.get("TIERS_KEYS", "5000"))
kSeed = int(os.environ.get("TIERS_SEED", "1"))
kTable = "bench_tiers"
kBatch = 500  # pipelined SETs per round trip while loading
kWarmup = 500  # untimed GETs before the first phase (connections, caches, branch predictors)
kPolicies = [
    {"prefix": "t1:", "strategy": "write-through", "l1": True, "l2": True, "table": kTable},
    {"prefix": "t2:", "strategy": "write-through", "l1": False, "l2": True, "table": kTable},
    {"prefix": "t3:", "strategy": "write-through", "l1": True, "l2": True, "table": kTable},
]


def key(prefix, i):
    return f"{prefix}{i:012d}"


def load_through(client, prefix):
    for lo in range(0, kKeys, kBatch):
        hi = min(kKeys, lo + kBatch)
        client.send(b"".join(env.harness.encode("SET", key(prefix, i), env.kValue)
                             for i in range(lo, hi)))
        for i in range(lo, hi):
            reply = client.read_reply()
            if reply != b"+OK\r\n":
                sys.exit(f"SET {key(prefix, i)} through strata: {reply!r}")


def timed_gets(client, keys):
    """Per-GET latency in microseconds; every reply must be the loaded value."""
    want = b"$%d\r\n%s\r\n" % (len(env.kValue), env.kValue)
    out = []
    clock = time.perf_counter_ns
    for k in keys:
        t0 = clock()
        reply = client.call("GET", k)
        out.append((clock() - t0) / 1000)
        if reply != want:
            sys.exit(f"GET {k}: {reply[:80]!r}, want the {len(env.kValue)}-byte value")
    return out


def main():
    env.place_processes()
    rng = random.Random(kSeed)
    pg = env.Postgres().start()
    pg.create_table(kTable)
    pg.insert_keys(kTable, "'t3:' || lpad(i::text, 12, '0')", kKeys)
    redis = env.start_redis()
    strata = env.start_strata(env.config_text(pg, kPolicies), upstream=redis)
    client = env.Client(strata.port)
    direct = env.Client(redis.port)
    for prefix in ("t1:", "t2:"):
        load_through(client, prefix)
    if env.call(direct, "EXISTS", key("t3:", 0)) != 0:
        sys.exit("t3: keys must be in PostgreSQL only, but Redis holds one")
    timed_gets(client, [key("t1:", rng.randrange(kKeys)) for _ in range(kWarmup)])
    phases = [  # label, prefix, connection, expected tier field (None: not strata)
        ("redis direct", "t1:", direct, None),
        ("L1 hit", "t1:", client, "l1_hits"),
        ("L2 hit", "t2:", client, "l2_hits"),
        ("PostgreSQL fill", "t3:", client, "pg_hits"),
        ("L1 hit after fill", "t3:", client, "l1_hits"),
    ]
    print(f"# read-through per tier: {kKeys} keys per phase, {len(env.kValue)}-byte values, one"
          f" GET at a time (Python client, latency in us), strata --workers"
          f" {os.environ.get('STRATA_WORKERS', '1')}, write-through prefixes", flush=True)
    hdr = (f"{'tier':19} {'reads':>6} {'hit ratio':>9} {'l1/l2/pg hits, misses':>23}"
           f" {'p50 us':>7} {'p90 us':>7} {'p99 us':>7} {'max us':>8} {'mean us':>7}")
    print(hdr)
    print("-" * len(hdr))
    for label, prefix, conn, field in phases:
        keys = [key(prefix, i) for i in range(kKeys)]
        rng.shuffle(keys)
        before = env.policy_stats(client)
        lat = sorted(timed_gets(conn, keys))
        after = env.policy_stats(client)
        if field:
            d = {f: env.stat_delta(before, after, prefix, f)
                 for f in ("l1_hits", "l2_hits", "pg_hits", "misses")}
            ratio = f"{d[field] / len(keys):9.3f}"
            counts = f"{d['l1_hits']}/{d['l2_hits']}/{d['pg_hits']}, {d['misses']}"
        else:
            ratio, counts = f"{'-':>9}", "-"
        print(f"{label:19} {len(keys):>6} {ratio} {counts:>23} {env.percentile(lat, 0.5):>7.1f}"
              f" {env.percentile(lat, 0.9):>7.1f} {env.percentile(lat, 0.99):>7.1f}"
              f" {lat[-1]:>8.1f} {sum(lat) / len(lat):>7.1f}", flush=True)
    print("hit ratio: share of the phase's GETs INFO counts in the tier the phase is named after")
    env.harness.cleanup()


if __name__ == "__main__":
    main()
