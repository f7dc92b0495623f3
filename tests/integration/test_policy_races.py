#!/usr/bin/env python3
"""Issue-3 races against a real redis-server and PostgreSQL: pending-write pinning (L1 evicted
by memory pressure, L2 deleted behind strata's back: the pending value comes back, not
PostgreSQL's older row), the read-through fill guard (a fill blocked by a table lock finishes
after a write: the cache keeps the write), refresh-ahead (background reload past the refresh
point without expiry; a loader slower than the TTL; a write during a refresh wins), and the
dead-letter list."""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from policy_util import (  # noqa: E402
    CallInThread, Conn, base_config, bulk, finish, flush_behind, global_int, kNil, kOk, kSchema,
    pg_get, pg_put, pg_value, policy_block, policy_counter, run_phases)

kTtlMs = 1500          # refresh-ahead TTL (short, so the test is quick)
kRefreshPoint = 0.5
kMaxmemory = "2mb"     # the pinning instance's L1 limit
kFillerBytes = 16 << 10
kFillerKeys = 600      # ~10 MB of other keys through a 2 MB L1
kPinnedKeys = 40
kLockHoldS = 0.6       # how long a fill is held behind the table lock

kDlSchema = """
CREATE TABLE strata_dl(k text PRIMARY KEY, v bytea CHECK (position('\\x626164'::bytea in v) = 0),
                       ver bigint, updated_at timestamptz);
"""  # rows whose value contains "bad" are refused for good (a CHECK violation)


def config(pg):
    return base_config(pg, [
        policy_block("pin:", "write-behind", flush_interval_ms=60000),
        policy_block("ra:", "refresh-ahead", ttl_ms=kTtlMs, refresh_point=kRefreshPoint),
        policy_block("ra2:", "refresh-ahead", l1=False, ttl_ms=kTtlMs,
                     refresh_point=kRefreshPoint),
        policy_block("wt:", "write-through"),
        policy_block("wa:", "write-around"),
        policy_block("dl:", "write-behind", flush_interval_ms=50, table="strata_dl",
                     key_column="k", value_column="v", version_column="ver"),
    ])


def pinning(chk, pg, redis):
    """A separate strata with a tiny L1: the pinned keys must survive the pressure."""
    srv = harness.start_strata_config(config(pg), upstream=redis, tag="strata-pin",
                                      extra=("--maxmemory", kMaxmemory))
    s, r = Conn(srv.port), Conn(redis.port)
    keys = [f"pin:p{i}" for i in range(kPinnedKeys)]
    for i, k in enumerate(keys):
        pg_put(pg, k, f"pg-old-{i}")
    acks = [s.call("SET", k, f"pending-{i}") for i, k in enumerate(keys)]
    chk.ok(all(a == kOk for a in acks), "pinning: write-behind SETs acked", acks[:3])
    chk.eq(pg_value(pg, keys[0]), b"pg-old-0", "pinning: PG still holds the old row")
    r.call("DEL", *keys)  # L2 gone behind strata's back
    ev0 = _info_int(s, "l1_evictions")
    filler = b"f" * kFillerBytes
    c = harness.Client(srv.port)
    for start in range(0, kFillerKeys, 100):
        for i in range(start, start + 100):
            c.send(harness.encode("SET", f"filler:{i}", filler))
        for i in range(start, start + 100):
            c.read_reply()
    c.close()
    ev1 = _info_int(s, "l1_evictions")
    chk.ok(ev0 is not None and ev1 is not None and ev1 > ev0 + 100,
           "pinning: the filler evicted L1 entries", f"l1_evictions {ev0} -> {ev1}")
    got = [s.call("GET", k) for k in keys]
    wrong = [(k, g) for i, (k, g) in enumerate(zip(keys, got)) if g != bulk(f"pending-{i}")]
    chk.ok(not wrong, "pinning: GET returns the pending value, not PG's older row",
           f"{len(wrong)} of {len(keys)} wrong, e.g. {wrong[:3]}")
    chk.eq(pg_value(pg, keys[0]), b"pg-old-0", "pinning: still not flushed (interval 60 s)")
    chk.eq(flush_behind(s), kOk, "pinning: FLUSH-BEHIND")
    chk.eq(pg_value(pg, keys[-1]), f"pending-{kPinnedKeys - 1}".encode(),
           "pinning: PG holds the pending value after the flush")
    s.close()
    r.close()
    srv.stop()


def _info_int(c, field):
    return global_int(c, field)


def fill_guard(chk, pg, redis, s, r):
    """GET's PostgreSQL read is blocked by a table lock; meanwhile a write to the same key comes:
    a write-behind SET or DEL (acked without PostgreSQL) or a write-through SET (waits for the
    lock too, and PostgreSQL orders it after the fill's SELECT). The lock goes, the fill's old
    row arrives last or nearly so: L1 and redis must keep the write, never the older row."""
    for n in range(3):
        _fill_race(chk, pg, s, r, f"pin:race{n}", ("SET", f"pin:race{n}", f"written-{n}"),
                   bulk(f"written-{n}"), f"fill guard write-behind SET #{n}")
    for n in range(2):
        _fill_race(chk, pg, s, r, f"pin:racedel{n}", ("DEL", f"pin:racedel{n}"), kNil,
                   f"fill guard write-behind DEL #{n}")
    for n in range(3):
        _fill_race(chk, pg, s, r, f"wt:race{n}", ("SET", f"wt:race{n}", f"through-{n}"),
                   bulk(f"through-{n}"), f"fill guard write-through SET #{n}", blocking=True)
    chk.eq(flush_behind(s), kOk, "fill guard: FLUSH-BEHIND")
    chk.eq(pg_value(pg, "pin:race0"), b"written-0", "fill guard: PG gets the write")
    chk.eq(pg_get(pg, "pin:racedel0"), None, "fill guard: PG gets the delete")


def _fill_race(chk, pg, s, r, key, write, want, what, blocking=False):
    pg_put(pg, key, "pg-old")
    lock = pg.session()
    lock.run("BEGIN; LOCK TABLE strata_kv IN ACCESS EXCLUSIVE MODE;")
    get = CallInThread(s.port, "GET", key)
    time.sleep(0.3)
    chk.ok(not get.done(), f"{what}: GET waits on the locked table", get.reply)
    t0 = time.monotonic()
    if blocking:
        w = CallInThread(s.port, *write)
        time.sleep(0.3)
    else:
        reply = Conn(s.port, timeout=5).call(*write)
        # DEL counts keys in a tier or the queue; this one is only in PostgreSQL so far.
        chk.ok(reply in (kOk, b":0\r\n", b":1\r\n"), f"{what}: acked", reply)
        chk.ok(time.monotonic() - t0 < 2, f"{what}: did not wait for PG",
               f"{time.monotonic() - t0:.1f}s")
    time.sleep(kLockHoldS)
    lock.run("COMMIT;")
    lock.close()
    if blocking:
        chk.eq(w.wait(15), kOk, f"{what}: acked after the lock")
    first = get.wait(15)
    chk.ok(first in (bulk("pg-old"), want), f"{what}: the blocked GET answers", first)
    time.sleep(0.2)  # let any late fill land
    chk.eq(s.call("GET", key), want, f"{what}: strata serves the write")
    chk.eq(r.call("GET", key), want if want != kNil else kNil, f"{what}: redis holds the write")


def _hot_reads(s, key, want, seconds):
    """GET `key` every 50 ms for `seconds`; the replies that were not `want`."""
    bad = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        g = s.call("GET", key)
        if g != want:
            bad.append(g)
        time.sleep(0.05)
    return bad


def refresh_ahead(chk, pg, s, r):
    """Read past the refresh point -> background reload -> the new PG value is served before
    the entry's TTL ends, and the key never misses."""
    chk.eq(s.call("SET", "ra:a", "v1"), kOk, "refresh-ahead SET")
    t0 = time.monotonic()
    pg.sql("UPDATE strata_kv SET value = 'v2', version = version + 1 WHERE key = 'ra:a'")
    chk.eq(s.call("GET", "ra:a"), bulk("v1"), "refresh-ahead: before the refresh point: cached")
    time.sleep(max(0, t0 + kTtlMs * 0.6 / 1000 - time.monotonic()))
    chk.eq(s.call("GET", "ra:a"), bulk("v1"), "refresh-ahead: past the refresh point: cached")
    seen, nil_at = [], None
    while time.monotonic() < t0 + kTtlMs * 0.95 / 1000:
        g = s.call("GET", "ra:a")
        seen.append(g)
        if g == kNil:
            nil_at = time.monotonic() - t0
        if g == bulk("v2"):
            break
        time.sleep(0.03)
    chk.ok(seen and seen[-1] == bulk("v2"), "refresh-ahead: new PG value served before the TTL",
           f"last {seen[-1:]!r} after {time.monotonic() - t0:.2f}s")
    chk.ok(nil_at is None, "refresh-ahead: never a miss", nil_at)
    chk.eq(r.call("GET", "ra:a"), bulk("v2"), "refresh-ahead: the reload refilled redis")
    pttl = r.value("PTTL", "ra:a")
    chk.ok(isinstance(pttl, int) and pttl > kTtlMs * 0.6, "refresh-ahead: redis TTL renewed", pttl)
    refreshes0 = policy_counter(s, "ra:", "refreshes")
    waits0 = policy_counter(s, "ra:", "pg_waits")
    bad = _hot_reads(s, "ra:a", bulk("v2"), 3 * kTtlMs / 1000)
    chk.ok(not bad, "refresh-ahead: a hot key stays served over 3 TTLs", bad[:3])
    refreshes1 = policy_counter(s, "ra:", "refreshes")
    waits1 = policy_counter(s, "ra:", "pg_waits")
    chk.ok(refreshes0 is not None and refreshes1 is not None and refreshes1 >= refreshes0 + 2,
           "refresh-ahead: INFO refreshes moves", f"{refreshes0} -> {refreshes1}")
    chk.ok(waits0 is not None and waits1 == waits0, "refresh-ahead: no read waited on PG",
           f"pg_waits {waits0} -> {waits1}")


def refresh_ahead_l2_only(chk, pg, s, r):
    """l1 = false (as the example's analytics:): the refresh point is read from redis's TTL."""
    chk.eq(s.call("SET", "ra2:a", "v1"), kOk, "L2-only refresh-ahead SET")
    t0 = time.monotonic()
    pg.sql("UPDATE strata_kv SET value = 'v2', version = version + 1 WHERE key = 'ra2:a'")
    time.sleep(max(0, t0 + kTtlMs * 0.6 / 1000 - time.monotonic()))
    chk.eq(s.call("GET", "ra2:a"), bulk("v1"), "L2-only: past the refresh point: cached")
    ok = harness.wait_for(lambda: s.call("GET", "ra2:a") == bulk("v2"), timeout=kTtlMs * 0.3 / 1000,
                          interval=0.03)
    chk.ok(ok and time.monotonic() < t0 + kTtlMs / 1000, "L2-only: reloaded before the TTL",
           f"{time.monotonic() - t0:.2f}s")
    pttl = r.value("PTTL", "ra2:a")
    chk.ok(isinstance(pttl, int) and pttl > kTtlMs * 0.6, "L2-only: redis TTL renewed", pttl)
    bad = _hot_reads(s, "ra2:a", bulk("v2"), 2 * kTtlMs / 1000)
    chk.ok(not bad, "L2-only: a hot key stays served over 2 TTLs", bad[:3])


def refresh_slow_loader(chk, pg, s, r):
    """The reload is blocked past the TTL: the old value is not served past its TTL."""
    chk.eq(s.call("SET", "ra:slow", "old"), kOk, "slow loader: SET")
    t0 = time.monotonic()
    pg.sql("UPDATE strata_kv SET value = 'new', version = version + 1 WHERE key = 'ra:slow'")
    lock = pg.session()
    lock.run("BEGIN; LOCK TABLE strata_kv IN ACCESS EXCLUSIVE MODE;")
    time.sleep(max(0, t0 + kTtlMs * 0.6 / 1000 - time.monotonic()))
    chk.eq(s.call("GET", "ra:slow"), bulk("old"), "slow loader: past the refresh point: cached")
    time.sleep(max(0, t0 + kTtlMs * 1.15 / 1000 - time.monotonic()))
    late = CallInThread(s.port, "GET", "ra:slow")
    time.sleep(0.4)
    early = late.reply if late.done() else None
    chk.ok(early != bulk("old"), "slow loader: the old value is not served past its TTL", early)
    lock.run("COMMIT;")
    lock.close()
    reply = late.wait(15)
    chk.ok(reply != bulk("old"), "slow loader: GET after the TTL is not the expired value", reply)
    chk.eq(s.call("GET", "ra:slow"), bulk("new"), "slow loader: PG's value once the lock goes")


def refresh_concurrent_write(chk, pg, s, r):
    """A reload is in flight (blocked by the lock) when a write comes: the write wins in L1 and
    redis, whichever of the two PostgreSQL answers first."""
    for n in range(3):
        key = f"ra:cw{n}"
        chk.eq(s.call("SET", key, "old"), kOk, f"refresh+write #{n}: SET old")
        t0 = time.monotonic()
        lock = pg.session()
        lock.run("BEGIN; LOCK TABLE strata_kv IN ACCESS EXCLUSIVE MODE;")
        time.sleep(max(0, t0 + kTtlMs * 0.6 / 1000 - time.monotonic()))
        chk.eq(s.call("GET", key), bulk("old"), f"refresh+write #{n}: GET starts a reload")
        w = CallInThread(s.port, "SET", key, f"new-{n}")
        time.sleep(0.2)
        lock.run("COMMIT;")
        lock.close()
        chk.eq(w.wait(15), kOk, f"refresh+write #{n}: the write is acked")
        time.sleep(0.15)
        chk.eq(s.call("GET", key), bulk(f"new-{n}"), f"refresh+write #{n}: L1 has the write")
        chk.eq(r.call("GET", key), bulk(f"new-{n}"), f"refresh+write #{n}: redis has the write")
        chk.eq(pg_value(pg, key), f"new-{n}".encode(), f"refresh+write #{n}: PG has the write")


kRaceThreads = 6
kRaceOps = 400
kRaceRounds = 3


def _race_worker(port, keys, seed):
    rng = random.Random(seed)
    c = harness.Client(port)
    for n in range(kRaceOps):
        k = rng.choice(keys)
        op = rng.randrange(6)
        if op < 2:
            c.call("SET", k, f"s{seed}-{n}")
        elif op == 2:
            c.call("DEL", k)
        else:
            c.call("GET", k)
    c.close()


def _pipeline_worker(port, keys, seed, errors):
    """Pipelines of 20 single- and multi-key commands (keys in random order, so per-key order
    queues are entered in every order: a deadlock shows up as a read timeout)."""
    rng = random.Random(seed)
    try:
        c = harness.Client(port, timeout=15)
        for rnd in range(20):
            cmds = []
            for _ in range(20):
                ks = rng.sample(keys, 3)
                cmds.append([("MSET", ks[0], "a", ks[1], "b", ks[2], "c"), ("DEL", *ks),
                             ("MGET", *ks), ("SET", ks[0], f"{seed}-{rnd}"),
                             ("GET", ks[0])][rng.randrange(5)])
            c.send(b"".join(harness.encode(*a) for a in cmds))
            for _ in cmds:
                reply = c.read_reply()
                if reply.startswith(b"-"):
                    errors.append(reply[:120])
        c.close()
    except (OSError, harness.ConnectionClosed, harness.ReplyError) as e:
        errors.append(f"{type(e).__name__}: {e}")


def _check_converged(chk, pg, s, r, keys, what):
    chk.eq(flush_behind(s), kOk, f"{what}: FLUSH-BEHIND")
    time.sleep(0.2)
    bad = []
    for k in keys:
        pv = pg_value(pg, k)
        want = kNil if pv is None else bulk(pv)
        sv, rv = s.call("GET", k), r.call("GET", k)
        if sv != want or rv not in (want, kNil):
            bad.append((k, pv, sv, rv))
    chk.ok(not bad, f"{what}: strata and redis agree with PostgreSQL",
           f"{len(bad)} of {len(keys)} keys, e.g. {bad[:3]}")


def concurrent_pipelines(chk, pg, s, r):
    keys = [f"{p}cp{i}" for p in ("wt:", "pin:", "wa:") for i in range(4)]
    errors = []
    threads = [threading.Thread(target=_pipeline_worker, args=(s.port, keys, i, errors))
               for i in range(kRaceThreads)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    chk.ok(not errors, "pipelined multi-key commands from many connections: no error, no hang",
           f"{len(errors)} errors, e.g. {errors[:3]}")
    print(f"info: {kRaceThreads} pipelined connections done in {time.monotonic() - t0:.1f}s")
    _check_converged(chk, pg, s, r, keys, "pipelined multi-key")


def concurrent_consistency(chk, pg, s, r):
    """Concurrent SET/DEL/GET from several connections on a few keys of each strategy: after
    FLUSH-BEHIND, strata serves exactly PostgreSQL's row for every key and redis holds that row
    or nothing (no stale fill or refresh installed over a newer write or delete)."""
    keys = [f"{p}cc{i}" for p in ("wt:", "pin:", "ra:", "wa:") for i in range(6)]
    for rnd in range(kRaceRounds):
        threads = [threading.Thread(target=_race_worker, args=(s.port, keys, rnd * 100 + i))
                   for i in range(kRaceThreads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        _check_converged(chk, pg, s, r, keys, f"concurrent round {rnd}")


def dead_letter(chk, pg, s, r):
    dl = dict(table="strata_dl", key_col="k", value_col="v", version_col="ver")
    chk.eq(s.call("SET", "dl:bad", "a-bad-value"), kOk, "dead letter: SET of a refused value")
    for i in range(5):
        s.call("SET", f"dl:ok{i}", f"fine-{i}")
    chk.eq(flush_behind(s), kOk, "dead letter: FLUSH-BEHIND returns (the bad write is parked)")
    ok = [pg_value(pg, f"dl:ok{i}", **dl) for i in range(5)]
    chk.eq(ok, [f"fine-{i}".encode() for i in range(5)], "dead letter: other keys flushed")
    chk.eq(pg_get(pg, "dl:bad", **dl), None, "dead letter: PG never got the bad row")
    lst = s.value("STRATA", "DEADLETTER", "LIST")
    chk.ok(isinstance(lst, list) and len(lst) == 1 and isinstance(lst[0], list) and
           len(lst[0]) == 5 and lst[0][0] == b"dl:bad" and lst[0][4] == b"a-bad-value",
           "DEADLETTER LIST: [key, version, error, age_ms, value]", lst)
    if isinstance(lst, list) and lst and isinstance(lst[0], list) and len(lst[0]) == 5:
        chk.ok(b"check" in lst[0][2].lower() or b"constraint" in lst[0][2].lower(),
               "DEADLETTER LIST: the error is PostgreSQL's", lst[0][2])
    chk.ok(harness.wait_for(lambda: (policy_counter(s, "dl:", "dead_letters") or 0) >= 1, 3),
           "INFO dead_letters counts it", policy_counter(s, "dl:", "dead_letters"))
    chk.eq(s.call("STRATA", "DEADLETTER", "RETRY", "dl:bad"), b":1\r\n", "DEADLETTER RETRY key")
    chk.eq(flush_behind(s), kOk, "dead letter: FLUSH-BEHIND after a retry")
    lst = s.value("STRATA", "DEADLETTER", "LIST")
    chk.ok(isinstance(lst, list) and len(lst) == 1, "a retry refused again is parked again", lst)
    chk.eq(s.call("STRATA", "DEADLETTER", "DROP", "dl:none"), b":0\r\n", "DROP of no entry")
    chk.eq(s.call("STRATA", "DEADLETTER", "DROP", "dl:bad"), b":1\r\n", "DEADLETTER DROP key")
    chk.eq(s.value("STRATA", "DEADLETTER", "LIST"), [], "DEADLETTER LIST empty after DROP")
    for i in range(2):
        s.call("SET", f"dl:bad{i}", "bad again")
    flush_behind(s)
    chk.eq(len(s.value("STRATA", "DEADLETTER", "LIST") or []), 2, "two parked writes")
    pg.sql("ALTER TABLE strata_dl DROP CONSTRAINT strata_dl_v_check")
    chk.eq(s.call("STRATA", "DEADLETTER", "RETRY"), b":2\r\n", "DEADLETTER RETRY (all)")
    chk.eq(flush_behind(s), kOk, "FLUSH-BEHIND after the constraint is gone")
    chk.eq(pg_value(pg, "dl:bad1", **dl), b"bad again", "a retried write reaches PG")
    chk.eq(s.value("STRATA", "DEADLETTER", "LIST"), [], "DEADLETTER LIST empty after success")
    s.call("SET", "dl:gone", "x")
    chk.eq(s.call("STRATA", "DEADLETTER", "DROP"), b":0\r\n", "DEADLETTER DROP (all) of none")


def main():
    pg = harness.start_postgres("pg-races")
    pg.sql(kSchema)
    pg.sql(kDlSchema)
    redis = harness.start_redis("redis-races")
    srv = harness.start_strata_config(config(pg), upstream=redis, tag="strata-races")
    chk = harness.Checks()
    s, r = Conn(srv.port), Conn(redis.port)
    run_phases(chk, [
        (pinning, (chk, pg, redis)),
        (fill_guard, (chk, pg, redis, s, r)),
        (refresh_ahead, (chk, pg, s, r)),
        (refresh_ahead_l2_only, (chk, pg, s, r)),
        (refresh_slow_loader, (chk, pg, s, r)),
        (refresh_concurrent_write, (chk, pg, s, r)),
        (concurrent_consistency, (chk, pg, s, r)),
        (concurrent_pipelines, (chk, pg, s, r)),
        (dead_letter, (chk, pg, s, r)),
    ])
    s.close()
    r.close()
    return finish(chk, [srv])


if __name__ == "__main__":
    sys.exit(main())
