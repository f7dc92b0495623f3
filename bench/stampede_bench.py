#!/usr/bin/python3
"""Stampede control across instances (issue 12): PostgreSQL reads per cold key and the latency
a lease adds, lease on vs off, A/B in one run.

Three strata instances (STAMPEDE_INSTANCES, 2 workers each) in front of one redis-server and one
PostgreSQL (pg_stat_statements loaded: every read strata makes is counted exactly). Two
write-through prefixes over tables of their own, identical but for stampede_lease_ms:
`on:` (500) and `off:` (0). Rounds alternate which prefix goes first; each figure is the median
over rounds. Per round and prefix, fresh cold keys (only in PostgreSQL):

  stampede  STAMPEDE_CLIENTS clients on every instance each pipeline GETs of the same
            STAMPEDE_KEYS keys, all released together (every key is missed by every instance
            and worker at once). PostgreSQL reads per key (pg_stat_statements), and the time
            from a client's burst to its last reply, p50/p99 over clients.
  winner    one client on one instance, alone, reads cold keys one at a time: every GET is a
            miss that reads PostgreSQL (with the lease: looks at L2, takes the lease, reads,
            installs, gives it back). p50/p99 -- the winner's added latency is on - off.
  waiter    per key: a GET sent to instance 1, then at once a GET to instance 2, whose latency is
            timed. With the lease, instance 2 finds it held and waits for the value in L2; without,
            it reads PostgreSQL itself. p50/p99 -- the waiter's added latency is on - off.

Latencies are client-side (Python, loopback), in microseconds. Env: STAMPEDE_ROUNDS (3),
STAMPEDE_KEYS (50), STAMPEDE_CLIENTS (4), STAMPEDE_INSTANCES (3), STRATA_BIN.
"""

import os
import statistics
import sys
import threading
import time

kRepo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(kRepo, "tests", "integration"))
if "STRATA_BIN" not in os.environ:
    os.environ["STRATA_BIN"] = os.path.join(kRepo, "build", "release", "proxy", "strata")

import harness  # noqa: E402
import harness_pg  # noqa: E402
from policy_util import base_config, policy_block, q  # noqa: E402

kRounds = int(os.environ.get("STAMPEDE_ROUNDS", "3"))
kKeys = int(os.environ.get("STAMPEDE_KEYS", "50"))
kClients = int(os.environ.get("STAMPEDE_CLIENTS", "4"))
kInstances = int(os.environ.get("STAMPEDE_INSTANCES", "3"))
kWorkers = 2
kLeaseMs = 500
kModes = (("on", "on:", "on_kv"), ("off", "off:", "off_kv"))


def start():
    pg = harness_pg.start_postgres("pg-stampede-bench")
    pg.sql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    pg.stop()
    pg.start()
    pg.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    for _, _, table in kModes:
        pg.sql(f"CREATE TABLE {table}(key text PRIMARY KEY, value bytea, version bigint)")
    redis = harness.start_redis("redis-stampede-bench")
    cfg = base_config(pg, [
        policy_block("on:", "write-through", ttl_ms=600000, stampede_lease_ms=kLeaseMs,
                     table="on_kv"),
        policy_block("off:", "write-through", ttl_ms=600000, stampede_lease_ms=0,
                     table="off_kv"),
    ])
    srv = [harness_pg.start_strata_config(cfg, upstream=redis, extra=("--workers", str(kWorkers)),
                                          tag=f"strata-stampede-bench-{i}")
           for i in range(kInstances)]
    return pg, redis, srv


def pg_reads(pg, table):
    rows = pg.rows("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE "
                   + q(f'SELECT %FROM "{table}" WHERE%'))
    return int(rows[0][0]) if rows else 0


def put_cold(pg, table, keys):
    values = ", ".join(f"({q(k)}, convert_to({q('v-' + k)}, 'UTF8'), 1)" for k in keys)
    pg.sql(f"INSERT INTO {table}(key, value, version) VALUES {values}")


def get_us(client, key):
    t0 = time.perf_counter_ns()
    reply = client.call("GET", key)
    us = (time.perf_counter_ns() - t0) / 1000
    if reply != harness_bulk("v-" + key):
        sys.exit(f"GET {key}: {reply!r}")
    return us


def harness_bulk(v):
    return b"$%d\r\n%s\r\n" % (len(v), v.encode())


def stampede(pg, srv, prefix, table, tag):
    keys = [f"{prefix}{tag}s{i}" for i in range(kKeys)]
    put_cold(pg, table, keys)
    clients = [harness.Client(s.port, timeout=30) for s in srv for _ in range(kClients)]
    barrier = threading.Barrier(len(clients))
    lat = [[] for _ in clients]

    def run(i):
        # The whole burst pipelined: every instance misses every key at the same moment.
        barrier.wait()
        t0 = time.perf_counter_ns()
        clients[i].send(b"".join(harness.encode("GET", k) for k in keys))
        for k in keys:
            if clients[i].read_reply() != harness_bulk("v-" + k):
                sys.exit(f"GET {k}: wrong reply")
        lat[i] = [(time.perf_counter_ns() - t0) / 1000]

    before = pg_reads(pg, table)
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for c in clients:
        c.close()
    return (pg_reads(pg, table) - before) / kKeys, [x for one in lat for x in one]


def winner(pg, srv, prefix, table, tag):
    keys = [f"{prefix}{tag}w{i}" for i in range(kKeys)]
    put_cold(pg, table, keys)
    c = harness.Client(srv[0].port, timeout=30)
    out = [get_us(c, k) for k in keys]
    c.close()
    return out


def waiter(pg, srv, prefix, table, tag):
    keys = [f"{prefix}{tag}p{i}" for i in range(kKeys)]
    put_cold(pg, table, keys)
    first, second = harness.Client(srv[0].port, timeout=30), harness.Client(srv[1].port, timeout=30)
    out = []
    for k in keys:
        first.send(harness.encode("GET", k))
        out.append(get_us(second, k))
        first.read_reply()
    first.close()
    second.close()
    return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else 0.0


def main():
    if kInstances < 2:
        sys.exit("STAMPEDE_INSTANCES must be at least 2 (the waiter phase needs two)")
    pg, redis, srv = start()
    res = {m: {"reads": [], "st50": [], "st99": [], "w50": [], "w99": [], "x50": [], "x99": []}
           for m, _, _ in kModes}
    for rnd in range(kRounds):
        order = kModes if rnd % 2 == 0 else tuple(reversed(kModes))
        for mode, prefix, table in order:
            tag = f"r{rnd}"
            reads, lat = stampede(pg, srv, prefix, table, tag)
            w = winner(pg, srv, prefix, table, tag)
            x = waiter(pg, srv, prefix, table, tag)
            r = res[mode]
            r["reads"].append(reads)
            r["st50"].append(pct(lat, 50))
            r["st99"].append(pct(lat, 99))
            r["w50"].append(pct(w, 50))
            r["w99"].append(pct(w, 99))
            r["x50"].append(pct(x, 50))
            r["x99"].append(pct(x, 99))
            print(f"round {rnd} {mode:3}: {reads:.2f} PostgreSQL reads/key; stampede p50 "
                  f"{pct(lat, 50):.0f} us p99 {pct(lat, 99):.0f}; winner p50 {pct(w, 50):.0f}; "
                  f"waiter p50 {pct(x, 50):.0f}", flush=True)
    med = {m: {k: statistics.median(v) for k, v in r.items()} for m, r in res.items()}
    on, off = med["on"], med["off"]
    print(f"\n{kInstances} instances x {kWorkers} workers, {kClients} clients each, {kKeys} cold "
          f"keys per phase, median of {kRounds} rounds (A/B alternating)\n")
    print(f"{'measure':34} {'lease on':>10} {'lease off':>10} {'on/off':>8}")

    def row(name, k, fmt="{:.0f}"):
        ratio = on[k] / off[k] if off[k] else float("nan")
        print(f"{name:34} {fmt.format(on[k]):>10} {fmt.format(off[k]):>10} {ratio:>8.2f}")

    row("PostgreSQL reads per cold key", "reads", "{:.2f}")
    row("stampede burst p50 (us)", "st50")
    row("stampede burst p99 (us)", "st99")
    row("winner miss p50 (us)", "w50")
    row("winner miss p99 (us)", "w99")
    row("waiter miss p50 (us)", "x50")
    row("waiter miss p99 (us)", "x99")
    print(f"\nadded by the lease: winner p50 {on['w50'] - off['w50']:+.0f} us, waiter p50 "
          f"{on['x50'] - off['x50']:+.0f} us")
    for s in srv:
        s.stop()
    redis.stop()
    pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
