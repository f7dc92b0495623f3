#!/usr/bin/env python3
"""Stampede control across instances (issue 12), against a real redis-server and PostgreSQL
(pg_stat_statements counts every read strata makes) and three strata instances of two workers:

- stampede: many clients on every instance miss the same cold keys at once. With the lease
  (prefix st:), PostgreSQL is read once per key per round; the same load on a prefix with
  stampede_lease_ms = 0 (nl:) reads it several times per key, so the count can fail.
- write during a wait: a reader waiting on another instance's lease gets a value written
  through a third instance meanwhile, long before the lease ends; a write through the
  waiter's own instance is not held up by the lease (the read yields to PostgreSQL).
- refresh-ahead: instances past the refresh point reload once per key between them.
- winner killed: the instance holding the lease dies (kill -9) while its PostgreSQL read is
  blocked by a table lock; a reader elsewhere takes the lease over when it lapses and gets the
  value within the lease time.
- Redis stopped: misses read PostgreSQL directly, counted as Redis fallbacks.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import harness_pg  # noqa: E402
from policy_util import (  # noqa: E402
    CallInThread, Conn, base_config, bulk, finish, info_policies, kNil, kOk, kSchema,
    policy_block, q, run_phases)

kInstances = ("A", "B", "C")
kWorkers = 2
kClientsPerInstance = 4
kRounds = 3
kKeysPerRound = 20
kLeaseMs = 400        # st:, rf:
kKillLeaseMs = 1200   # kl: the dead winner's lease
kFakeLeaseMs = 4000   # a lease held by hand: the wait must end long before it
kRefreshTtlMs = 4000  # long enough that the first reads never see it expire, even under load
kLeaseFields = ("lease_won", "lease_waits", "lease_wait_l2", "lease_takeovers",
                "lease_timeouts", "lease_yields", "lease_redis_fallbacks", "refresh_shared",
                "pg_hits", "misses", "refreshes")

kTables = ("st_kv", "nl_kv", "wr_kv", "kl_kv", "rf_kv", "wa_kv")
kMarkLeaseMs = 3000  # wa: a winner's "absent" mark outlives the checks that follow it


def config(pg):
    return base_config(pg, [
        policy_block("st:", "write-through", ttl_ms=60000, stampede_lease_ms=kLeaseMs,
                     table="st_kv"),
        policy_block("nl:", "write-through", ttl_ms=60000, stampede_lease_ms=0, table="nl_kv"),
        policy_block("wr:", "write-through", ttl_ms=60000, stampede_lease_ms=kFakeLeaseMs,
                     table="wr_kv"),
        policy_block("kl:", "write-through", ttl_ms=60000, stampede_lease_ms=kKillLeaseMs,
                     table="kl_kv"),
        policy_block("wa:", "write-around", ttl_ms=60000, stampede_lease_ms=kMarkLeaseMs,
                     table="wa_kv"),
        policy_block("rf:", "refresh-ahead", ttl_ms=kRefreshTtlMs, refresh_point=0.5,
                     stampede_lease_ms=kLeaseMs, table="rf_kv"),
    ])


def setup_pg(pg):
    # pg_stat_statements needs a restart to load; its counts are exact and synchronous.
    pg.sql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    pg.stop()
    pg.start()
    pg.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    pg.sql(kSchema)
    for t in kTables:
        pg.sql(f"CREATE TABLE {t}(key text PRIMARY KEY, value bytea, version bigint)")


def pg_reads(pg, table):
    """SELECTs strata ran on `table` so far (its read statement)."""
    rows = pg.rows("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE "
                   + q(f'SELECT %FROM "{table}" WHERE%'))
    return int(rows[0][0]) if rows else 0


def put_rows(pg, table, items):
    values = ", ".join(f"({q(k)}, convert_to({q(v)}, 'UTF8'), 1)" for k, v in items)
    pg.sql(f"INSERT INTO {table}(key, value, version) VALUES {values} ON CONFLICT (key) DO "
           f"UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version")


def counters(conns, prefix):
    """Sum over instances of the prefix's INFO # Policies counters."""
    out = dict.fromkeys(kLeaseFields, 0)
    for c in conns:
        fields = info_policies(c).get(prefix, {})
        for f in kLeaseFields:
            try:
                out[f] += int(fields.get(f, "0"))
            except ValueError:
                pass
    return out


def delta(after, before):
    return {k: after[k] - before[k] for k in after}


def concurrent_gets(ports, keys, clients_per_instance):
    """clients_per_instance clients on every port each pipeline GET of every key, all
    released together. Returns [(port, replies)] and the slowest client's seconds."""
    conns = [(p, harness.Client(p, timeout=30)) for p in ports for _ in range(clients_per_instance)]
    barrier = threading.Barrier(len(conns))
    results = [None] * len(conns)
    took = [0.0] * len(conns)

    def run(i, client):
        barrier.wait()
        t0 = time.monotonic()
        for k in keys:
            client.send(harness.encode("GET", k))
        results[i] = [client.read_reply() for _ in keys]
        took[i] = time.monotonic() - t0

    threads = [threading.Thread(target=run, args=(i, c), daemon=True)
               for i, (_, c) in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for _, c in conns:
        c.close()
    return [(p, r) for (p, _), r in zip(conns, results)], max(took)


def gets_while_locked(pg, table, ports, keys):
    """concurrent_gets with `table` locked until the instances' reads wait on the lock (at
    least one backend per instance waiting, and no more joining for 0.3 s), so no instance's
    read can finish, and fill L2 for another, before every instance has missed."""
    lock = pg.session()
    lock.run(f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;")
    out = {}
    runner = threading.Thread(
        target=lambda: out.update(r=concurrent_gets(ports, keys, kClientsPerInstance)),
        daemon=True)
    runner.start()

    def waiting():
        return int(pg.rows("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                           "'Lock' AND query LIKE " + q(f'SELECT %FROM "{table}" WHERE%'))[0][0])

    harness.wait_for(lambda: waiting() >= len(ports), timeout=10, interval=0.02)
    seen, steady_since = waiting(), time.monotonic()
    while time.monotonic() - steady_since < 0.3:
        time.sleep(0.05)
        n = waiting()
        if n != seen:
            seen, steady_since = n, time.monotonic()
    lock.run("COMMIT;")
    lock.close()
    runner.join(60)
    return out.get("r", ([(p, None) for p in ports], 0.0))


def stampede(chk, pg, srv, conns):
    ports = [srv[n].port for n in kInstances]
    for prefix, table, lease in (("st:", "st_kv", True), ("nl:", "nl_kv", False)):
        per_round = []
        for rnd in range(kRounds):
            keys = [f"{prefix}r{rnd}k{i}" for i in range(kKeysPerRound)]
            put_rows(pg, table, [(k, f"v-{k}") for k in keys])
            before, c0 = pg_reads(pg, table), counters(conns, prefix)
            if lease:
                results, took = concurrent_gets(ports, keys, kClientsPerInstance)
            else:
                results, took = gets_while_locked(pg, table, ports, keys)
            reads, c = pg_reads(pg, table) - before, delta(counters(conns, prefix), c0)
            per_round.append(reads)
            wrong = [(p, k, g) for p, got in results for k, g in zip(keys, got or [])
                     if g != bulk(f"v-{k}")]
            chk.ok(all(r is not None for _, r in results) and not wrong,
                   f"stampede {prefix} round {rnd}: every client got every value",
                   f"{len(wrong)} wrong, e.g. {wrong[:2]}")
            print(f"    {prefix} round {rnd}: {reads} PostgreSQL reads for {kKeysPerRound} keys "
                  f"({len(kInstances)} instances x {kClientsPerInstance} clients, "
                  f"{took * 1000:.0f} ms) counters {c}", flush=True)
            if lease:
                chk.eq(reads, kKeysPerRound,
                       f"stampede {prefix} round {rnd}: one PostgreSQL read per key")
                chk.eq(c["lease_won"] + c["lease_takeovers"], kKeysPerRound,
                       f"stampede {prefix} round {rnd}: one lease winner per key")
                # (An instance whose first look at L2 comes after the winner's install has
                # nothing to wait for: waits may be fewer than instances x workers - 1.)
                chk.ok(c["lease_wait_l2"] == c["lease_waits"],
                       f"stampede {prefix} round {rnd}: every wait was served from L2", c)
        if not lease:
            # The control: without the lease every instance reads for itself. Its reads were
            # all issued while the table was locked, so none could fill L2 for the others:
            # at least one read per key per instance, whatever the timing.
            chk.ok(min(per_round) >= len(ports) * kKeysPerRound,
                   f"stampede {prefix}: without the lease PostgreSQL is read once per key per "
                   f"instance (the count can fail)", per_round)


def absent(chk, pg, srv, conns, redis):
    """Keys PostgreSQL does not have: the readers that waited take the winner's "absent" mark
    instead of reading too, and a write after the mark voids it."""
    ports = [srv[n].port for n in kInstances]
    keys = [f"wa:none{i}" for i in range(kKeysPerRound)]
    before, c0 = pg_reads(pg, "wa_kv"), counters(conns, "wa:")
    results, _ = concurrent_gets(ports, keys, kClientsPerInstance)
    reads, d = pg_reads(pg, "wa_kv") - before, delta(counters(conns, "wa:"), c0)
    print(f"    absent: {reads} PostgreSQL reads for {len(keys)} missing keys; counters {d}",
          flush=True)
    chk.ok(all(g == b"$-1\r\n" for _, got in results for g in got or [None]),
           "absent: every client got nil")
    # A reader that comes after the winner gave the lease back reads PostgreSQL (misses are
    # not cached: only readers that waited take the mark), so how many reads there are
    # depends on timing (2-3 per key, more under a sanitizer). What does not: every read is a
    # lease winner's (or a counted fallback: a timed-out wait, Redis slow past its bound), and
    # there are fewer than readers (without the lease each reads).
    readers = len(ports) * kClientsPerInstance
    chk.eq(reads, d["lease_won"] + d["lease_takeovers"] + d["lease_timeouts"] +
           d["lease_redis_fallbacks"], "absent: every PostgreSQL read was a lease winner's")
    chk.ok(len(keys) <= reads < len(keys) * readers,
           "absent: fewer PostgreSQL reads than readers per missing key",
           f"{reads} for {len(keys)} keys x {readers} readers")
    chk.ok(d["lease_wait_l2"] > 0, "absent: waiters took the absent mark", d)

    # A mark made stale by a write: B waits on a lease held by hand, A writes the key
    # (write-around: PostgreSQL, then L2 invalidated and its version raised), then the lease
    # becomes an absent mark carrying the version from before the write. B must not take it.
    r = Conn(redis.port)
    k, lkey, vkey = "wa:late", "__strata:lease:wa:late", "__strata:ver:wa:late"
    old_ver = (harness.parse(r.call("GET", vkey)) or b"0").decode()
    r.call("SET", lkey, "tsomeone-else", "PX", str(kFakeLeaseMs))
    reader = CallInThread(srv["B"].port, "GET", k)
    time.sleep(0.2)
    chk.eq(conns[0].call("SET", k, "now-here"), kOk, "absent: SET through A")
    chk.ok(harness.parse(r.call("GET", vkey)) not in (None, old_ver.encode()),
           "absent: the write raised L2's version of the key")
    r.call("SET", lkey, "a" + old_ver, "PX", str(kFakeLeaseMs))
    chk.eq(reader.wait(10), bulk("now-here"),
           "absent: a write after the mark voids it (the waiter reads the new row)")
    # The same mark with the current version is taken: a waiter answers nil from it.
    r.call("SET", "__strata:lease:wa:gone", "tsomeone-else", "PX", str(kFakeLeaseMs))
    reader = CallInThread(srv["B"].port, "GET", "wa:gone")
    time.sleep(0.2)
    gone_ver = (harness.parse(r.call("GET", "__strata:ver:wa:gone")) or b"0").decode()
    r.call("SET", "__strata:lease:wa:gone", "a" + gone_ver, "PX", str(kFakeLeaseMs))
    t0 = time.monotonic()
    chk.eq(reader.wait(10), kNil, "absent: a valid mark answers the waiter")
    chk.ok(time.monotonic() - t0 < 1.0, "absent: at once, not at the lease's end")
    r.close()


def write_during_wait(chk, pg, srv, conns, redis):
    r = Conn(redis.port)
    a, b, c = (conns[i] for i in range(3))
    # Another instance's write lands while B waits on a lease (held here by hand): B's reader
    # gets the new value as soon as it is in L2, not PostgreSQL's old row, not the lease's end.
    put_rows(pg, "wr_kv", [("wr:x", "old")])
    chk.eq(r.call("SET", "__strata:lease:wr:x", "tsomeone-else", "PX", str(kFakeLeaseMs)), kOk,
           "write during wait: a lease held by hand")
    c0 = counters([b], "wr:")
    t0 = time.monotonic()
    reader = CallInThread(srv["B"].port, "GET", "wr:x")
    time.sleep(0.3)
    chk.ok(not reader.done(), "write during wait: B's reader waits on the lease", reader.reply)
    chk.eq(c.call("SET", "wr:x", "new"), kOk, "write during wait: SET through C")
    got = reader.wait(10)
    took = (reader.done_at or time.monotonic()) - t0
    chk.eq(got, bulk("new"), "write during wait: the reader gets the new value")
    chk.ok(took < kFakeLeaseMs / 1000 / 2, "write during wait: well before the lease ends",
           f"{took:.3f}s")
    d = delta(counters([b], "wr:"), c0)
    chk.ok(d["lease_waits"] == 1 and d["lease_wait_l2"] == 1 and d["pg_hits"] == 0,
           "write during wait: one wait, served from L2, no PostgreSQL read", d)

    # A client that pipelines GET then SET while the GET waits on a lease: the SET is not held
    # up by the lease, and the GET still answers the state before the SET (the waiting read
    # yields: it reads PostgreSQL ahead of the write, as it would without a lease).
    put_rows(pg, "wr_kv", [("wr:y", "old")])
    r.call("SET", "__strata:lease:wr:y", "tsomeone-else", "PX", str(kFakeLeaseMs))
    c0 = counters([b], "wr:")
    cl = harness.Client(srv["B"].port, timeout=10)
    cl.send(harness.encode("GET", "wr:y"))
    time.sleep(0.3)
    t0 = time.monotonic()
    cl.send(harness.encode("SET", "wr:y", "new"))
    got_get, got_set = cl.read_reply(), cl.read_reply()
    took = time.monotonic() - t0
    cl.close()
    chk.eq(got_get, bulk("old"), "own write: the GET sent first answers the state before the SET")
    chk.eq(got_set, kOk, "own write: the SET")
    chk.ok(took < 1.0, "own write: the SET is not held up by the read lease", f"{took:.3f}s")
    chk.eq(b.call("GET", "wr:y"), bulk("new"), "own write: then the new value")
    chk.eq(a.call("GET", "wr:y"), bulk("new"), "own write: on another instance too")
    d = delta(counters([b], "wr:"), c0)
    # Yielded: the SET arrived while the GET waited between looks, or while a look was out
    # and its answer "held" came first; a look slower than the Redis bound is a fallback.
    chk.ok(d["lease_waits"] == 1 and d["lease_yields"] + d["lease_redis_fallbacks"] == 1 and
           d["pg_hits"] == 1, "own write: the GET waited, then went to PostgreSQL", d)
    r.call("DEL", "__strata:lease:wr:x", "__strata:lease:wr:y")
    r.close()


def refresh_ahead(chk, pg, srv, conns):
    keys = [f"rf:k{i}" for i in range(10)]
    put_rows(pg, "rf_kv", [(k, f"v1-{k}") for k in keys])
    for cn in conns:
        for k in keys:
            chk.eq(cn.call("GET", k), bulk(f"v1-{k}"), "refresh-ahead: first read")
    # Past the refresh point (half the TTL) every instance reads every key again at once:
    # one reload per key between them. (Read one after the other, the first reload's L2
    # install would reach the others as a tracking invalidation before their own reads, and
    # they would never try.)
    time.sleep(kRefreshTtlMs / 1000 * 0.6)
    before, c0 = pg_reads(pg, "rf_kv"), counters(conns, "rf:")
    results, _ = concurrent_gets([srv[n].port for n in kInstances], keys, 2)
    chk.ok(all(g in (bulk(f"v1-{k}"),) for _, got in results for k, g in zip(keys, got or [])),
           "refresh-ahead: reads past the refresh point are served from cache")
    ok = harness.wait_for(lambda: counters(conns, "rf:")["refreshes"] - c0["refreshes"] >=
                          len(keys), timeout=5)
    time.sleep(0.2)  # reloads still in flight land
    reads, d = pg_reads(pg, "rf_kv") - before, delta(counters(conns, "rf:"), c0)
    print(f"    refresh-ahead: {reads} PostgreSQL reads for {len(keys)} keys past the refresh "
          f"point on {len(conns)} instances; counters {d}", flush=True)
    chk.ok(ok, "refresh-ahead: the keys were reloaded", d)
    chk.eq(reads, len(keys), "refresh-ahead: one reload per key across the instances")


def winner_killed(chk, pg, srv, conns, redis):
    r = Conn(redis.port)
    put_rows(pg, "kl_kv", [("kl:x", "v-x")])
    lock = pg.session()
    lock.run("BEGIN; LOCK TABLE kl_kv IN ACCESS EXCLUSIVE MODE;")
    first = CallInThread(srv["A"].port, "GET", "kl:x")
    ok = harness.wait_for(lambda: r.call("EXISTS", "__strata:lease:kl:x") == b":1\r\n",
                          timeout=5, interval=0.005)
    chk.ok(ok, "winner killed: A took the lease (its read is blocked by the lock)")
    srv["A"].srv.kill()
    t_kill = time.monotonic()
    c0 = counters([conns[1]], "kl:")
    lock.run("COMMIT;")
    lock.close()
    second = CallInThread(srv["B"].port, "GET", "kl:x")
    got = second.wait(10)
    took = (second.done_at or time.monotonic()) - t_kill
    chk.eq(got, bulk("v-x"), "winner killed: B's reader gets the value")
    chk.ok(took <= kKillLeaseMs / 1000 + 0.5,
           "winner killed: within the lease time", f"{took:.3f}s after the kill")
    chk.ok(took >= 0.2, "winner killed: B waited for the lease (did not read at once)",
           f"{took:.3f}s")
    d = delta(counters([conns[1]], "kl:"), c0)
    chk.ok(d["lease_waits"] == 1 and d["lease_takeovers"] == 1 and d["pg_hits"] == 1,
           "winner killed: B waited, took the lapsed lease over, read PostgreSQL once", d)
    harness.restart_now(srv["A"].srv)
    conns[0].close()
    r.close()


def redis_stopped(chk, pg, srv, conns, redis):
    keys = [f"st:down{i}" for i in range(5)]
    put_rows(pg, "st_kv", [(k, f"v-{k}") for k in keys])
    redis.stop()
    # Until an instance notices, a GET on the dead connection fails and is retried by nothing:
    # wait until every instance answers a cache-prefix GET with its "unavailable" error.
    for cn in conns:
        harness.wait_for(lambda cn=cn: b"unavailable" in cn.call("GET", "plain:x"), timeout=10)
    c0 = counters(conns, "st:")
    for cn in conns:
        for k in keys:
            chk.eq(cn.call("GET", k), bulk(f"v-{k}"), "Redis stopped: PostgreSQL answers")
    d = delta(counters(conns, "st:"), c0)
    chk.eq(d["lease_redis_fallbacks"], len(keys) * len(conns),
           "Redis stopped: every miss counted as a Redis fallback")
    chk.eq(d["lease_won"] + d["lease_waits"], 0, "Redis stopped: no lease taken or waited on")
    harness.restart_now(redis)


def main():
    chk = harness.Checks()
    pg = harness_pg.start_postgres("pg-stampede")
    setup_pg(pg)
    redis = harness.start_redis("redis-stampede")
    srv = {n: harness_pg.start_strata_config(config(pg), upstream=redis,
                                             extra=("--workers", str(kWorkers)),
                                             tag=f"strata-stampede-{n}")
           for n in kInstances}
    conns = [Conn(srv[n].port) for n in kInstances]
    run_phases(chk, [
        (stampede, (chk, pg, srv, conns)),
        (absent, (chk, pg, srv, conns, redis)),
        (write_during_wait, (chk, pg, srv, conns, redis)),
        (refresh_ahead, (chk, pg, srv, conns)),
        (winner_killed, (chk, pg, srv, conns, redis)),
        (redis_stopped, (chk, pg, srv, conns, redis)),
    ])
    return finish(chk, [pg, redis, *[s.srv for s in srv.values()]])


if __name__ == "__main__":
    sys.exit(main())
