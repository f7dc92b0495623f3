#!/usr/bin/env python3
"""The four write strategies against a real redis-server (L2) and PostgreSQL: at each step what
the client sees, what Redis holds (GET on redis directly) and what PostgreSQL holds (SELECT from
strata_kv). Also DEL per strategy, the read-through fill order and tiers, negative caching,
unsupported commands, and PostgreSQL stopped mid-run then started again. Races, pinning,
refresh-ahead and dead letters are in test_policy_races.py; admin commands in
test_policy_admin.py."""

import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from policy_util import (  # noqa: E402
    CallInThread, Conn, base_config, bulk, finish, flush_behind, global_int, kNil, kOk, kSchema,
    pg_get, pg_log_versions, pg_put, pg_value, policy_block, policy_counter, run_phases)

kNegativeTtlMs = 1500
kErrReplyMaxS = 12.0  # a write while PostgreSQL is down is answered (with an error) within this
kUpstreamReplyTimeoutMs = 1000  # strata gives up on a stalled redis after this
kBpDepth = 5  # bp: write-behind queue bound (pending keys)
kBpWaitMs = 300  # bp: how long a writer waits for room before its error
kBqWaitMs = 10000  # bq: long enough for PostgreSQL to come back while a writer waits


def config(pg):
    return base_config(pg, [
        policy_block("wt:", "write-through"),
        policy_block("wb:", "write-behind", flush_interval_ms=100),
        policy_block("wa:", "write-around"),
        policy_block("ra:", "refresh-ahead", ttl_ms=60000, refresh_point=0.8),
        policy_block("neg:", "write-through", negative_ttl_ms=kNegativeTtlMs),
        policy_block("ttl:", "write-through", ttl_ms=5000),
        policy_block("l2only:", "write-around", l1=False),
        policy_block("l1only:", "write-through", l2=False),
        policy_block("co:", "write-behind", flush_interval_ms=60000),
        policy_block("bp:", "write-behind", flush_interval_ms=50, max_queue_depth=kBpDepth,
                     queue_wait_ms=kBpWaitMs),
        policy_block("bq:", "write-behind", flush_interval_ms=50, max_queue_depth=2,
                     queue_wait_ms=kBqWaitMs),
    ])


def write_through(chk, s, r, pg):
    chk.eq(s.call("SET", "wt:a", "v1"), kOk, "write-through SET")
    chk.eq(pg_value(pg, "wt:a"), b"v1", "write-through: PG holds v1 at the ack")
    chk.eq(r.call("GET", "wt:a"), bulk("v1"), "write-through: redis holds v1 at the ack")
    chk.eq(s.call("GET", "wt:a"), bulk("v1"), "write-through: GET v1")
    v1 = (pg_get(pg, "wt:a") or (None, 0))[1]
    chk.ok(v1 > 0, "write-through: PG row carries a version", v1)
    chk.eq(s.call("SET", "wt:a", "v2"), kOk, "write-through SET again")
    got = pg_get(pg, "wt:a")
    chk.eq(got and got[0], b"v2", "write-through: PG holds v2")
    chk.ok(got and got[1] > v1, "write-through: version grows", f"{v1} -> {got}")
    chk.eq(r.call("GET", "wt:a"), bulk("v2"), "write-through: redis holds v2")
    chk.eq(s.call("GET", "wt:a"), bulk("v2"), "write-through: GET v2")
    chk.eq(s.call("DEL", "wt:a"), b":1\r\n", "write-through DEL")
    chk.eq(pg_get(pg, "wt:a"), None, "write-through DEL: PG row gone")
    chk.eq(r.call("EXISTS", "wt:a"), b":0\r\n", "write-through DEL: redis key gone")
    chk.eq(s.call("GET", "wt:a"), kNil, "write-through DEL: GET nil")
    chk.eq(s.call("DEL", "wt:nowhere"), b":0\r\n", "write-through DEL of a missing key")
    # TTL options apply to the cache tiers only; PostgreSQL keeps the row.
    chk.eq(s.call("SET", "wt:t", "tv", "PX", "400"), kOk, "write-through SET PX")
    pttl = r.value("PTTL", "wt:t")
    chk.ok(isinstance(pttl, int) and 0 < pttl <= 400, "SET PX: redis TTL", pttl)
    time.sleep(0.6)
    chk.eq(r.call("EXISTS", "wt:t"), b":0\r\n", "SET PX: expired in redis")
    chk.eq(pg_value(pg, "wt:t"), b"tv", "SET PX: PG keeps the row")
    chk.eq(s.call("GET", "wt:t"), bulk("tv"), "SET PX: GET after expiry reads PostgreSQL")
    chk.eq(r.call("GET", "wt:t"), bulk("tv"), "SET PX: the read refilled redis")
    for cmd in (("SETEX", "wt:sx", "100", "a"), ("PSETEX", "wt:px", "100000", "b")):
        chk.eq(s.call(*cmd), kOk, f"write-through {cmd[0]}")
        chk.eq(pg_value(pg, cmd[1]), cmd[3].encode(), f"write-through {cmd[0]}: PG holds it")
    chk.eq(s.call("MSET", "wt:m1", "x1", "wt:m2", "x2"), kOk, "write-through MSET")
    chk.eq([pg_value(pg, "wt:m1"), pg_value(pg, "wt:m2")], [b"x1", b"x2"], "MSET: PG holds both")
    chk.eq(s.call("UNLINK", "wt:m1", "wt:m2", "wt:none"), b":2\r\n", "write-through UNLINK")
    chk.eq([pg_get(pg, "wt:m1"), pg_get(pg, "wt:m2")], [None, None], "UNLINK: PG rows gone")


def unsupported(chk, s, r, pg):
    s.call("SET", "wt:u", "1")
    for args in (("INCR", "wt:u"), ("APPEND", "wt:u", "x"), ("EXPIRE", "wt:u", "10"),
                 ("SET", "wt:u", "2", "NX"), ("SET", "wt:u", "2", "XX"),
                 ("SET", "wt:u", "2", "GET"), ("SET", "wt:u", "2", "KEEPTTL"), ("GETDEL", "wt:u")):
        reply = s.call(*args)
        want = (f"-ERR strata: {args[0]} is not supported on key 'wt:u' (prefix 'wt:' is "
                f"write-through); use SET or DEL").encode()
        chk.ok(reply.startswith(want) or (args[0] == "SET" and reply.startswith(
            b"-ERR strata: SET") and b"use SET or DEL" in reply),
            f"{' '.join(args)} on a write-through key is refused", repr(reply))
    # Writes that name the key only through scripting or a STORE destination must not slip past
    # the strategy straight into Redis either.
    d = harness.Client(r.port)
    d.call("RPUSH", "plain:list", "b", "a")
    d.close()
    for args in (("EVAL", "return redis.call('SET', KEYS[1], 'lua')", "1", "wt:ev"),
                 ("SORT", "plain:list", "ALPHA", "STORE", "wt:so")):
        reply = s.call(*args)
        redis_now = r.call("EXISTS", args[-1])
        chk.ok(reply.startswith(b"-ERR strata"),
               f"{args[0]} on a write-through key is refused (not run on Redis alone)",
               f"{reply!r}, redis EXISTS {args[-1]} -> {redis_now!r}, PG {pg_get(pg, args[-1])}")
    chk.eq(pg_value(pg, "wt:u"), b"1", "refused commands left PG unchanged")
    chk.eq(r.call("GET", "wt:u"), bulk("1"), "refused commands left redis unchanged")
    reply = s.call("INCR", "wb:u")
    chk.ok(b"prefix 'wb:' is write-behind" in reply, "INCR on a write-behind key names it", reply)
    # The default policy is "cache": every command works as before issue 3.
    chk.eq(s.call("INCR", "plain:n"), b":1\r\n", "INCR on a cache-strategy key works")


def write_behind(chk, s, r, pg):
    chk.eq(s.call("SET", "wb:a", "v1"), kOk, "write-behind SET")
    chk.eq(r.call("GET", "wb:a"), bulk("v1"), "write-behind: redis holds v1 at the ack")
    chk.eq(s.call("GET", "wb:a"), bulk("v1"), "write-behind: GET v1")
    chk.ok(harness.wait_for(lambda: pg_value(pg, "wb:a") == b"v1", timeout=5),
           "write-behind: PG gets v1 within the flush interval", pg_get(pg, "wb:a"))
    chk.eq(s.call("SET", "wb:a", "v2"), kOk, "write-behind SET v2")
    chk.eq(flush_behind(s), kOk, "FLUSH-BEHIND")
    chk.eq(pg_value(pg, "wb:a"), b"v2", "write-behind: PG holds v2 after FLUSH-BEHIND")
    chk.eq(s.call("DEL", "wb:a"), b":1\r\n", "write-behind DEL of a cached key")
    chk.eq(r.call("EXISTS", "wb:a"), b":0\r\n", "write-behind DEL: redis key gone at the ack")
    chk.eq(s.call("GET", "wb:a"), kNil, "write-behind DEL: GET nil (pending delete)")
    chk.eq(flush_behind(s), kOk, "FLUSH-BEHIND after DEL")
    chk.eq(pg_get(pg, "wb:a"), None, "write-behind DEL: PG row gone after the flush")
    chk.eq(s.call("GET", "wb:a"), kNil, "write-behind DEL: GET nil after the flush")
    # A row only PostgreSQL holds: DEL counts 0 (not in a tier or the queue) but deletes it.
    pg_put(pg, "wb:pgonly", "old")
    chk.eq(s.call("DEL", "wb:pgonly"), b":0\r\n", "write-behind DEL of a PG-only key counts 0")
    chk.eq(flush_behind(s), kOk, "FLUSH-BEHIND after DEL of a PG-only key")
    chk.eq(pg_get(pg, "wb:pgonly"), None, "write-behind DEL reaches PG for a PG-only key")
    chk.eq(s.call("MSET", "wb:m1", "a", "wb:m2", "b"), kOk, "write-behind MSET")
    chk.eq(flush_behind(s), kOk, "FLUSH-BEHIND after MSET")
    chk.eq([pg_value(pg, "wb:m1"), pg_value(pg, "wb:m2")], [b"a", b"b"], "MSET reached PG")
    d0 = global_int(s, "wb_queue_depth")
    chk.eq(d0, 0, "INFO wb_queue_depth is 0 after FLUSH-BEHIND")


def coalescing(chk, s, r, pg):
    """co: flushes every 60 s: 20 writes to one key are pending together; FLUSH-BEHIND applies
    one row (the trigger log sees one version), the last."""
    for i in range(20):
        s.call("SET", "co:k", f"v{i}")
    chk.eq(pg_get(pg, "co:k"), None, "write-behind with a long interval: PG empty at the ack")
    chk.eq(s.call("GET", "co:k"), bulk("v19"), "GET sees the last pending write")
    live = global_int(s, "journal_live_records")
    chk.ok(live is not None and live >= 1, "INFO journal_live_records counts the pending write",
           live)
    chk.ok((global_int(s, "journal_segments") or 0) >= 1, "INFO journal_segments >= 1",
           global_int(s, "journal_segments"))
    chk.ok((global_int(s, "journal_group_commits") or 0) >= 1,
           "INFO journal_group_commits counts the commits", global_int(s, "journal_group_commits"))
    chk.ok((global_int(s, "journal_bytes_written") or 0) >= 20 * 40,
           "INFO journal_bytes_written covers 20 records", global_int(s, "journal_bytes_written"))
    chk.eq(global_int(s, "journal_failures"), 0, "INFO journal_failures 0")
    chk.eq(global_int(s, "journal_background_syncs"), 0,
           "INFO journal_background_syncs 0 (per-commit fdatasync)")
    chk.eq(s.call("STRATA", "FLUSH-BEHIND"), kOk, "FLUSH-BEHIND without a timeout")
    chk.eq(global_int(s, "journal_live_records"), 0, "INFO journal_live_records 0 after the flush")
    chk.eq(pg_value(pg, "co:k"), b"v19", "coalesced: PG holds the last write")
    versions = pg_log_versions(pg, "co:k")
    chk.eq(len(versions), 1, "coalesced: 20 writes to one key applied as one row")


def write_around(chk, s, r, pg):
    chk.eq(s.call("SET", "wa:a", "v1"), kOk, "write-around SET")
    chk.eq(pg_value(pg, "wa:a"), b"v1", "write-around: PG holds v1 at the ack")
    chk.eq(r.call("EXISTS", "wa:a"), b":0\r\n", "write-around: redis not filled by the write")
    chk.eq(s.call("GET", "wa:a"), bulk("v1"), "write-around: GET fills from PG")
    chk.eq(r.call("GET", "wa:a"), bulk("v1"), "write-around: the read filled redis")
    chk.eq(s.call("SET", "wa:a", "v2"), kOk, "write-around SET v2")
    chk.eq(r.call("EXISTS", "wa:a"), b":0\r\n", "write-around: redis invalidated by the write")
    chk.eq(pg_value(pg, "wa:a"), b"v2", "write-around: PG holds v2")
    chk.eq(s.call("GET", "wa:a"), bulk("v2"), "write-around: GET v2 (L1 was invalidated too)")
    chk.eq(s.call("DEL", "wa:a"), b":1\r\n", "write-around DEL")
    chk.eq(pg_get(pg, "wa:a"), None, "write-around DEL: PG row gone")
    chk.eq(r.call("EXISTS", "wa:a"), b":0\r\n", "write-around DEL: redis key gone")
    chk.eq(s.call("GET", "wa:a"), kNil, "write-around DEL: GET nil")


def refresh_ahead_writes(chk, s, r, pg):
    """Writes behave as write-through; the cache tiers get the policy TTL."""
    chk.eq(s.call("SET", "ra:w", "v1"), kOk, "refresh-ahead SET")
    chk.eq(pg_value(pg, "ra:w"), b"v1", "refresh-ahead: PG holds v1 at the ack")
    chk.eq(r.call("GET", "ra:w"), bulk("v1"), "refresh-ahead: redis holds v1 at the ack")
    pttl = r.value("PTTL", "ra:w")
    chk.ok(isinstance(pttl, int) and 50000 < pttl <= 60000, "refresh-ahead: redis has the TTL",
           pttl)
    chk.eq(s.call("DEL", "ra:w"), b":1\r\n", "refresh-ahead DEL")
    chk.eq(pg_get(pg, "ra:w"), None, "refresh-ahead DEL: PG row gone")
    chk.eq(r.call("EXISTS", "ra:w"), b":0\r\n", "refresh-ahead DEL: redis key gone")
    chk.eq(s.call("GET", "ra:w"), kNil, "refresh-ahead DEL: GET nil")


def read_through(chk, s, r, pg):
    """A key inserted in PostgreSQL only: GET misses L1 and L2, reads PG, fills L2 then L1."""
    hits0 = policy_counter(s, "wt:", "pg_hits")
    pg_put(pg, "wt:fresh", "from-pg")
    chk.eq(s.call("GET", "wt:fresh"), bulk("from-pg"), "read-through: GET serves PG's row")
    chk.eq(r.call("GET", "wt:fresh"), bulk("from-pg"), "read-through: redis filled")
    chk.eq(r.value("PTTL", "wt:fresh"), -1, "read-through: ttl_ms 0 fills without TTL")
    hits1 = policy_counter(s, "wt:", "pg_hits")
    chk.ok(hits0 is not None and hits1 == hits0 + 1, "INFO pg_hits counts the fill",
           f"{hits0} -> {hits1}")
    l1a = policy_counter(s, "wt:", "l1_hits")
    r.call("DEL", "wt:fresh")
    chk.eq(s.call("GET", "wt:fresh"), bulk("from-pg"), "read-through: L1 filled too")
    l1b = policy_counter(s, "wt:", "l1_hits")
    chk.ok(l1a is not None and l1b == l1a + 1, "INFO l1_hits counts the hit", f"{l1a} -> {l1b}")
    pg_put(pg, "ttl:fresh", "t")
    chk.eq(s.call("GET", "ttl:fresh"), bulk("t"), "read-through with ttl_ms")
    pttl = r.value("PTTL", "ttl:fresh")
    chk.ok(isinstance(pttl, int) and 0 < pttl <= 5000, "fill carries the policy TTL", pttl)
    # l1 = false: every read past L2 goes to redis/PG, never a stale L1 copy.
    pg_put(pg, "l2only:k", "one")
    chk.eq(s.call("GET", "l2only:k"), bulk("one"), "l2-only: GET from PG")
    chk.eq(r.call("GET", "l2only:k"), bulk("one"), "l2-only: redis filled")
    r.call("DEL", "l2only:k")
    pg_put(pg, "l2only:k", "two", version=2)
    chk.eq(s.call("GET", "l2only:k"), bulk("two"), "l2-only: no L1 copy kept")
    l2a = policy_counter(s, "l2only:", "l2_hits")
    pg_put(pg, "l2only:k", "two-b", version=3)
    chk.eq(s.call("GET", "l2only:k"), bulk("two"), "l2-only: served from redis (L2 hit)")
    l2b = policy_counter(s, "l2only:", "l2_hits")
    chk.ok(l2a is not None and l2b == l2a + 1, "INFO l2_hits counts the hit", f"{l2a} -> {l2b}")
    # l2 = false: redis never sees the prefix.
    chk.eq(s.call("SET", "l1only:k", "x"), kOk, "l1-only SET")
    chk.eq(r.call("EXISTS", "l1only:k"), b":0\r\n", "l1-only: redis untouched by the write")
    pg_put(pg, "l1only:f", "y")
    chk.eq(s.call("GET", "l1only:f"), bulk("y"), "l1-only: GET from PG")
    chk.eq(r.call("EXISTS", "l1only:f"), b":0\r\n", "l1-only: redis untouched by the fill")
    pg_put(pg, "wt:mg", "m")
    chk.eq(s.call("MGET", "wt:mg", "wt:mg-none", "plain:none"),
           b"*3\r\n" + bulk("m") + kNil + kNil, "MGET reads through per key")
    chk.eq(s.call("EXISTS", "wt:mg", "wt:mg-none"), b":1\r\n", "EXISTS reads through")
    misses = policy_counter(s, "wt:", "misses")
    chk.ok(misses is not None and misses >= 1, "INFO misses counts PG misses", misses)


def negative_cache(chk, s, r, pg):
    chk.eq(s.call("GET", "neg:x"), kNil, "negative: GET of a key PG lacks")
    pg_put(pg, "neg:x", "late")
    chk.eq(s.call("GET", "neg:x"), kNil, "negative: 'not in PG' cached for negative_ttl_ms")
    time.sleep(kNegativeTtlMs / 1000 + 0.3)
    chk.eq(s.call("GET", "neg:x"), bulk("late"), "negative: after negative_ttl_ms PG is read")
    chk.eq(s.call("GET", "neg:y"), kNil, "negative: GET neg:y")
    chk.eq(s.call("SET", "neg:y", "written"), kOk, "negative: SET after a cached miss")
    chk.eq(s.call("GET", "neg:y"), bulk("written"), "a write replaces the negative entry")
    chk.eq(s.call("GET", "wt:neg0"), kNil, "negative_ttl_ms 0: GET nil")
    pg_put(pg, "wt:neg0", "now")
    chk.eq(s.call("GET", "wt:neg0"), bulk("now"), "negative_ttl_ms 0: misses are not cached")


def postgres_down(chk, s, r, pg, srv):
    chk.eq(s.call("SET", "wt:down", "before"), kOk, "SET before PostgreSQL stops")
    s.call("GET", "wt:down")
    s.call("SET", "wa:down", "before")
    pg.stop("fast")
    s.settimeout(kErrReplyMaxS + 5)
    t0 = time.monotonic()
    reply = s.call("SET", "wt:down", "during")
    took = time.monotonic() - t0
    chk.ok(reply.startswith(b"-ERR strata: PostgreSQL write failed"),
           "write-through SET while PG is down: error", repr(reply))
    chk.ok(took < kErrReplyMaxS, "the error comes promptly", f"{took:.1f}s")
    chk.eq(r.call("GET", "wt:down"), bulk("before"), "PG down: redis unchanged")
    chk.eq(s.call("GET", "wt:down"), bulk("before"), "PG down: L1 unchanged")
    reply = s.call("DEL", "wt:down")
    chk.ok(reply.startswith(b"-ERR strata: PostgreSQL write failed"),
           "write-through DEL while PG is down: error", repr(reply))
    chk.eq(s.call("GET", "wt:down"), bulk("before"), "PG down: failed DEL left L1 unchanged")
    reply = s.call("SET", "wa:down", "during")
    chk.ok(reply.startswith(b"-ERR strata: PostgreSQL write failed"),
           "write-around SET while PG is down: error", repr(reply))
    acks = [s.call("SET", f"wb:down:{i}", f"d{i}") for i in range(50)]
    chk.ok(all(a == kOk for a in acks), "write-behind SETs acked while PG is down",
           [a for a in acks if a != kOk][:3])
    chk.eq(s.call("GET", "wb:down:7"), bulk("d7"), "write-behind value served while PG is down")
    chk.ok(harness.wait_for(lambda: global_int(s, "pg_available") == 0, timeout=5),
           "INFO pg_available 0 while PG is down", global_int(s, "pg_available"))
    chk.ok(harness.wait_for(lambda: (policy_counter(s, "wb:", "wb_retries") or 0) > 0, timeout=5),
           "INFO wb_retries moves while PG is down", policy_counter(s, "wb:", "wb_retries"))
    depth = global_int(s, "wb_queue_depth")
    chk.ok(depth is not None and depth >= 50, "INFO wb_queue_depth counts the pending", depth)
    oldest = policy_counter(s, "wb:", "wb_oldest_ms")
    chk.ok(oldest is not None and oldest > 0, "INFO wb_oldest_ms > 0 while PG is down", oldest)
    backpressure(chk, s)
    reply = flush_behind(s, 500)
    chk.ok(reply.startswith(b"-ERR FLUSH-BEHIND timed out after 500 ms: ") and
           b"writes pending" in reply, "FLUSH-BEHIND while PG is down times out", repr(reply))
    waiter = backpressure_wait(chk, s)
    pg.start()
    chk.eq(waiter.wait(kBqWaitMs / 1000 + 5), kOk,
           "backpressure: a waiting writer is acked once PostgreSQL drains the queue")
    chk.eq(flush_behind(s), kOk, "FLUSH-BEHIND after PostgreSQL is back")
    chk.eq(pg_value(pg, "bq:2"), b"waited", "backpressure: the waiting write reached PG")
    got = {i: pg_value(pg, f"wb:down:{i}") for i in range(50)}
    lost = [i for i in range(50) if got[i] != f"d{i}".encode()]
    chk.ok(not lost, "write-behind SETs acked while PG was down reached PG", lost[:5])
    bp = [pg_value(pg, f"bp:{i}") for i in range(kBpDepth + 1)]
    chk.eq(bp, [b"b%d" % i for i in range(kBpDepth)] + [None],
           "backpressure: the acked writes reached PG, the refused one did not")
    chk.eq(pg_value(pg, "wt:down"), b"before", "failed write-through SET never reached PG")
    chk.eq(pg_value(pg, "wa:down"), b"before", "failed write-around SET never reached PG")
    chk.ok(harness.wait_for(lambda: s.call("SET", "wt:down", "after") == kOk, timeout=10),
           "write-through works again once PG is back", s.call("SET", "wt:down", "after"))
    chk.eq(pg_value(pg, "wt:down"), b"after", "PG holds the write after the restart")
    chk.eq(r.call("GET", "wt:down"), bulk("after"), "redis holds the write after the restart")
    chk.ok(harness.wait_for(lambda: global_int(s, "pg_available") == 1, timeout=5),
           "INFO pg_available 1 again", global_int(s, "pg_available"))
    s.settimeout(harness.kReadTimeoutS)


def backpressure(chk, s):
    """PostgreSQL is down: bp:'s queue fills at kBpDepth pending keys; the next writer waits
    queue_wait_ms, then gets an error (memory stays bounded)."""
    acks = [s.call("SET", f"bp:{i}", f"b{i}") for i in range(kBpDepth)]
    chk.ok(all(a == kOk for a in acks), "backpressure: writes up to max_queue_depth acked", acks)
    t0 = time.monotonic()
    reply = s.call("SET", f"bp:{kBpDepth}", "over")
    took = time.monotonic() - t0
    chk.ok(reply.startswith(b"-ERR"), "backpressure: a write past max_queue_depth errors", reply)
    chk.ok(kBpWaitMs / 1000 * 0.8 <= took < kBpWaitMs / 1000 + 3,
           "backpressure: the writer waited about queue_wait_ms first", f"{took:.2f}s")
    # Not cached: the read goes on to PostgreSQL, which is down (nil or an error, never "over").
    got = s.call("GET", f"bp:{kBpDepth}")
    chk.ok(got == kNil or got.startswith(b"-ERR"), "backpressure: the refused write is not cached",
           got)
    pw = policy_counter(s, "bp:", "wb_queue_depth")
    chk.eq(pw, kBpDepth, "backpressure: INFO wb_queue_depth at the bound")


def mixed_prefixes(chk, s, r, pg):
    """One MSET / DEL over keys of several strategies: each key follows its own prefix."""
    chk.eq(s.call("MSET", "wt:mx", "1", "wb:mx", "2", "wa:mx", "3", "plain:mx", "4"), kOk,
           "MSET across strategies")
    chk.eq(flush_behind(s), kOk, "FLUSH-BEHIND after the mixed MSET")
    chk.eq([pg_value(pg, k) for k in ("wt:mx", "wb:mx", "wa:mx", "plain:mx")],
           [b"1", b"2", b"3", None], "mixed MSET: PG holds the PostgreSQL prefixes only")
    chk.eq([r.call("GET", k) for k in ("wt:mx", "wb:mx", "wa:mx", "plain:mx")],
           [bulk("1"), bulk("2"), kNil, bulk("4")], "mixed MSET: redis per strategy")
    chk.eq(s.call("MGET", "wt:mx", "wb:mx", "wa:mx", "plain:mx"),
           b"*4\r\n" + bulk("1") + bulk("2") + bulk("3") + bulk("4"), "mixed MGET")
    chk.eq(s.call("DEL", "wt:mx", "wb:mx", "wa:mx", "plain:mx", "wt:mx-none"), b":4\r\n",
           "DEL across strategies counts each removed key")
    chk.eq(flush_behind(s), kOk, "FLUSH-BEHIND after the mixed DEL")
    chk.eq([pg_get(pg, k) for k in ("wt:mx", "wb:mx", "wa:mx")], [None] * 3,
           "mixed DEL: PG rows gone")
    chk.eq(s.call("MGET", "wt:mx", "wb:mx", "wa:mx", "plain:mx"), b"*4\r\n" + kNil * 4,
           "mixed DEL: all gone through strata")
    # Write-behind with a TTL: the cache tiers expire, PostgreSQL keeps the row.
    chk.eq(s.call("SET", "wb:ttl", "t", "PX", "300"), kOk, "write-behind SET PX")
    chk.eq(flush_behind(s), kOk, "FLUSH-BEHIND after SET PX")
    time.sleep(0.5)
    chk.eq(r.call("EXISTS", "wb:ttl"), b":0\r\n", "write-behind SET PX: expired in redis")
    chk.eq(s.call("GET", "wb:ttl"), bulk("t"), "write-behind SET PX: GET reads PG after expiry")


def pipelined(chk, s, r, pg):
    """One connection sends writes and reads of several strategies without waiting: replies come
    back in order and every read sees the writes sent before it on the connection."""
    cmds = []
    want = []
    for i in range(20):
        for prefix in ("wt:", "wb:", "wa:", "ra:", "plain:"):
            key = f"{prefix}pipe{i % 3}"
            cmds += [("SET", key, f"{prefix}{i}"), ("GET", key)]
            want += [kOk, bulk(f"{prefix}{i}")]
        cmds += [("DEL", f"wt:pipe{i % 3}"), ("GET", f"wt:pipe{i % 3}")]
        want += [b":1\r\n", kNil]
    c = harness.Client(s.port)
    c.send(b"".join(harness.encode(*a) for a in cmds))
    got = [c.read_reply() for _ in cmds]
    c.close()
    bad = [(i, cmds[i], got[i], want[i]) for i in range(len(cmds)) if got[i] != want[i]]
    chk.ok(not bad, f"pipelined mixed strategies: {len(cmds)} replies in order", bad[:4])
    chk.eq(flush_behind(s), kOk, "FLUSH-BEHIND after the pipeline")
    chk.eq(pg_value(pg, "wb:pipe1"), b"wb:19", "pipelined write-behind: the last write in PG")
    chk.eq(pg_value(pg, "wa:pipe1"), b"wa:19", "pipelined write-around: the last write in PG")


def pinned_clients(chk, s, r, pg):
    """A RESP3 client (on the shared connections, its replies converted) has its keys under
    PostgreSQL policies served by their strategy, in RESP3, with replies in order among the
    forwarded ones; once its connection is pinned and holds Redis state (MULTI) such keys are
    refused. Pub/sub
    on a RESP3 connection is relayed as it comes. Replies strata composes itself on a pinned
    connection (STRATA admin) keep their place behind the relayed ones."""
    c = harness.Client(s.port)
    hello = c.call("HELLO", "3")
    chk.ok(hello.startswith(b"%"), "HELLO 3 through strata: a RESP3 map", hello[:40])
    cmds = [("RPUSH", "plain:r3", "a"), ("SET", "wt:r3", "v3"), ("LRANGE", "plain:r3", "0", "-1"),
            ("GET", "wt:r3"), ("SET", "wb:r3", "b3"), ("GET", "wt:r3none"),
            ("HSET", "plain:r3h", "f", "1"), ("HGETALL", "plain:r3h"), ("GET", "wb:r3"),
            ("DEL", "plain:r3", "plain:r3h")]
    want = [b":1\r\n", kOk, b"*1\r\n$1\r\na\r\n", bulk("v3"), kOk, b"_\r\n", b":1\r\n",
            b"%1\r\n$1\r\nf\r\n$1\r\n1\r\n", bulk("b3"), b":2\r\n"]
    c.send(b"".join(harness.encode(*a) for a in cmds))
    got = [c.read_reply() for _ in cmds]
    bad = [(cmds[i], got[i], want[i]) for i in range(len(cmds)) if got[i] != want[i]]
    chk.ok(not bad, "RESP3 client: PostgreSQL-policy keys served, replies in order", bad[:4])
    chk.eq(pg_value(pg, "wt:r3"), b"v3", "RESP3 client: the write-through SET is in PostgreSQL")
    chk.eq(flush_behind(s), kOk, "FLUSH-BEHIND after the RESP3 writes")
    chk.eq(pg_value(pg, "wb:r3"), b"b3", "RESP3 client: the write-behind SET reached PostgreSQL")
    chk.eq(c.call("MULTI"), kOk, "RESP3 client: MULTI")
    reply = c.call("SET", "wt:r3", "in-multi")
    chk.ok(reply.startswith(b"-ERR strata: key 'wt:r3' is under a PostgreSQL policy"),
           "inside MULTI a PostgreSQL-policy key is refused", reply)
    chk.eq(c.call("EXEC"), b"*0\r\n", "EXEC of the empty transaction")
    chk.ok(c.call("GET", "wt:r3").startswith(b"-ERR strata"),
           "after MULTI the connection stays refused for such keys (Redis may hold state)")
    c.close()
    # RESP2 transaction with strata's own command pipelined behind it.
    c = harness.Client(s.port)
    cmds = [("MULTI",), ("SET", "plain:m", "1"), ("EXEC",), ("STRATA", "POLICY", "GET", "wt:"),
            ("GET", "plain:m")]
    c.send(b"".join(harness.encode(*a) for a in cmds))
    got = [c.read_reply() for _ in cmds]
    chk.eq(got[:3], [kOk, b"+QUEUED\r\n", b"*1\r\n+OK\r\n"], "MULTI/SET/EXEC through strata")
    chk.ok(got[3].startswith(b"*") and b"write-through" in got[3],
           "STRATA POLICY GET after EXEC: its reply comes after EXEC's", got[3][:60])
    chk.eq(got[4], bulk("1"), "GET after the admin command")
    c.close()
    # Pub/sub on a RESP3 connection: pushes relayed as they come.
    sub = harness.Client(s.port)
    sub.call("HELLO", "3")
    sub.send(harness.encode("SUBSCRIBE", "r3chan"))
    chk.eq(sub.read_reply(), b">3\r\n$9\r\nsubscribe\r\n$6\r\nr3chan\r\n:1\r\n",
           "RESP3 SUBSCRIBE: the push confirming it")
    pub = harness.Client(s.port)
    chk.eq(pub.call("PUBLISH", "r3chan", "hi"), b":1\r\n", "PUBLISH reaches the subscriber")
    chk.eq(sub.read_reply(), b">3\r\n$7\r\nmessage\r\n$6\r\nr3chan\r\n$2\r\nhi\r\n",
           "RESP3 subscriber gets the message push")
    sub.send(harness.encode("PING"))
    chk.eq(sub.read_reply(), b"+PONG\r\n", "PING while subscribed (RESP3)")
    pub.close()
    sub.close()


def binary_and_big(chk, s, r, pg):
    """Values are bytes (every byte value, 4 MB) through PostgreSQL's bytea and the journal;
    keys are Redis strings, so one with a NUL byte must not become another key's row."""
    binv = bytes(range(256)) * 3
    big = bytes(random.Random(7).getrandbits(8) for _ in range(1 << 16)) * 64  # 4 MB
    for key, v in (("wt:bin", binv), ("wb:bin", binv), ("wt:big", big), ("wb:big", big)):
        chk.eq(s.call("SET", key, v), kOk, f"SET {key} ({len(v)} bytes)")
        chk.eq(s.call("GET", key), bulk(v), f"GET {key}")
    chk.eq(flush_behind(s), kOk, "FLUSH-BEHIND after binary values")
    for key, v in (("wt:bin", binv), ("wb:bin", binv), ("wt:big", big), ("wb:big", big)):
        chk.ok(pg_value(pg, key) == v, f"PG holds {key} byte for byte",
               len(pg_value(pg, key) or b""))
    for prefix in ("wt:", "wb:"):
        reply = s.call("SET", f"{prefix}nul\x00tail".encode(), "with-nul")
        flush_behind(s)
        truncated = pg_get(pg, f"{prefix}nul")
        chk.ok(reply.startswith(b"-ERR") or truncated is None,
               f"{prefix} key with a NUL byte does not land on the row of its prefix before it",
               f"SET -> {reply!r}; PG row '{prefix}nul' = {truncated}")


def stalled_redis(chk, s, r, pg, redis):
    """Redis stops answering (SIGSTOP) while a write-through and a write-around write commit in
    PostgreSQL: once Redis is back, it must not keep the old value (the dual-write hole must
    converge), and strata serves the new one."""
    for key, strategy in (("wt:conv", "write-through"), ("wa:conv", "write-around")):
        chk.eq(s.call("SET", key, "old"), kOk, f"{strategy}: SET old")
        s.call("GET", key)  # write-around: fills redis with "old"
        chk.eq(r.call("GET", key), bulk("old"), f"{strategy}: redis holds old")
        os.kill(redis.pid, signal.SIGSTOP)
        try:
            w = CallInThread(s.port, "SET", key, "new", timeout=20)
            time.sleep(kUpstreamReplyTimeoutMs / 1000 + 0.5)
        finally:
            os.kill(redis.pid, signal.SIGCONT)
        reply = w.wait(20)
        print(f"info: {strategy} SET while redis was stalled -> {reply!r}")
        chk.eq(pg_value(pg, key), b"new", f"{strategy}: PG committed the write")
        fresh = Conn(redis.port)
        ok = harness.wait_for(lambda: fresh.call("GET", key) in (bulk("new"), kNil), timeout=10)
        chk.ok(ok, f"{strategy}: redis converges (no stale 'old' after the stall)",
               fresh.call("GET", key))
        fresh.close()
        chk.ok(harness.wait_for(lambda: s.call("GET", key) == bulk("new"), timeout=10),
               f"{strategy}: strata serves the committed value", s.call("GET", key))


def redis_down(chk, s, r, pg, redis):
    """L2 gone: PostgreSQL strategies keep working (L1 and PostgreSQL), and once redis is back
    it does not serve values older than PostgreSQL's."""
    s.call("SET", "wt:l2c", "c1")
    s.call("GET", "wt:l2c")
    pg_put(pg, "wt:l2pg", "p")
    redis.kill(signal.SIGKILL)
    s.settimeout(15)
    chk.eq(s.call("GET", "wt:l2c"), bulk("c1"), "redis down: L1 hit")
    chk.eq(s.call("GET", "wt:l2pg"), bulk("p"), "redis down: read-through from PG")
    for key in ("wt:l2n", "wb:l2n", "wa:l2n"):
        chk.eq(s.call("SET", key, "n"), kOk, f"redis down: SET {key}")
    chk.eq(s.call("DEL", "wt:l2c"), b":1\r\n", "redis down: write-through DEL")
    chk.eq(flush_behind(s), kOk, "redis down: FLUSH-BEHIND")
    chk.eq([pg_value(pg, k) for k in ("wt:l2n", "wb:l2n", "wa:l2n", "wt:l2c")],
           [b"n", b"n", b"n", None], "redis down: PG has every write")
    harness.restart_server(redis)
    d = Conn(redis.port)
    chk.ok(harness.wait_for(lambda: s.call("GET", "wt:l2n") == bulk("n"), timeout=10),
           "redis back: strata serves the write", s.call("GET", "wt:l2n"))
    chk.eq(s.call("GET", "wt:l2c"), kNil, "redis back: the delete holds")
    d.close()
    s.settimeout(harness.kReadTimeoutS)


def backpressure_wait(chk, s):
    """bq: holds 2 pending keys and lets a writer wait 10 s: the third SET waits (PostgreSQL is
    down) and is answered once PostgreSQL is back and the queue drains."""
    acks = [s.call("SET", f"bq:{i}", f"q{i}") for i in range(2)]
    chk.ok(all(a == kOk for a in acks), "backpressure (wait): queue filled", acks)
    waiter = CallInThread(s.port, "SET", "bq:2", "waited", timeout=kBqWaitMs / 1000 + 10)
    time.sleep(0.5)
    chk.ok(not waiter.done(), "backpressure (wait): the writer waits for room", waiter.reply)
    return waiter


def main():
    pg = harness.start_postgres("pg-policies")
    pg.sql(kSchema)
    redis = harness.start_redis("redis-policies")
    srv = harness.start_strata_config(
        config(pg), upstream=redis, tag="strata-policies",
        extra=("--upstream-reply-timeout-ms", str(kUpstreamReplyTimeoutMs)))
    chk = harness.Checks()
    s, r = Conn(srv.port), Conn(redis.port)
    phases = [(p, (chk, s, r, pg)) for p in (
        write_through, unsupported, write_behind, coalescing, write_around, refresh_ahead_writes,
        read_through, negative_cache, mixed_prefixes, pipelined, pinned_clients,
        binary_and_big)]
    phases.append((stalled_redis, (chk, s, r, pg, redis)))
    phases.append((postgres_down, (chk, s, r, pg, srv)))
    phases.append((redis_down, (chk, s, r, pg, redis)))
    run_phases(chk, phases)
    s.close()
    r.close()
    return finish(chk, [srv])


if __name__ == "__main__":
    sys.exit(main())
