#!/usr/bin/env python3
"""strata in front of a real Redis: misses fill L1, writes go through, forwarded writes
invalidate, the upstream dying leaves L1 hits served and misses answered with an error naming
the upstream, and strata reconnects once Redis is back. Every socket read has a timeout: a hang
is a failure."""

import os
import random
import signal
import sys
import threading
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402

kDownReplyMaxS = 5.0     # a request while Redis is down must be answered within this
kReconnectMaxS = 10.0    # strata must be usable again this long after Redis is back
kReconnectClients = 8    # fresh clients that must all succeed (they spread over connections)


Conn = harness.Conn


def info_field(client, name):
    raw = client.call("INFO", "all")
    text = harness.parse(raw)
    if not isinstance(text, bytes):
        return None
    for line in text.splitlines():
        if line.startswith(name.encode() + b":"):
            return int(line.split(b":", 1)[1])
    return None


def bulk(v):
    return b"$%d\r\n%s\r\n" % (len(v), v)


def fill_and_hit(chk, c, d):
    d.call("SET", "u:a", "from-redis")
    chk.eq(c.call("GET", "u:a"), bulk(b"from-redis"), "miss is served from redis")
    h0 = info_field(c, "l1_hits")
    if not chk.ok(h0 is not None, "INFO reports l1_hits", "no l1_hits field in INFO all"):
        return
    chk.eq(c.call("GET", "u:a"), bulk(b"from-redis"), "second GET")
    h1 = info_field(c, "l1_hits")
    chk.ok(h1 is not None and h1 > h0, "second GET is an L1 hit", f"l1_hits {h0} -> {h1}")
    chk.eq(c.call("MGET", "u:a", "u:nope"), b"*2\r\n" + bulk(b"from-redis") + b"$-1\r\n",
           "MGET mixes hit and miss")


def write_through(chk, c, d):
    chk.eq(c.call("SET", "u:a", "new"), b"+OK\r\n", "SET through strata")
    chk.eq(d.call("GET", "u:a"), bulk(b"new"), "SET reached redis")
    chk.eq(c.call("GET", "u:a"), bulk(b"new"), "GET after SET sees the new value")
    chk.eq(c.call("APPEND", "u:a", "er"), b":5\r\n", "APPEND through strata")
    chk.eq(d.call("GET", "u:a"), bulk(b"newer"), "APPEND reached redis")
    chk.eq(c.call("GET", "u:a"), bulk(b"newer"), "GET after APPEND")
    chk.eq(c.call("INCR", "u:n"), b":1\r\n", "INCR through strata")
    chk.eq(d.call("GET", "u:n"), bulk(b"1"), "INCR reached redis")
    chk.eq(c.call("DEL", "u:n"), b":1\r\n", "DEL through strata")
    chk.eq(d.call("EXISTS", "u:n"), b":0\r\n", "DEL reached redis")
    chk.eq(c.call("GET", "u:n"), b"$-1\r\n", "GET after DEL")
    c.call("SET", "u:t", "v", "PX", "300")
    chk.eq(c.call("GET", "u:t"), bulk(b"v"), "GET before expiry")
    time.sleep(0.5)
    chk.eq(c.call("GET", "u:t"), b"$-1\r\n", "L1 honours the TTL")
    c.call("SET", "u:p", "v")
    c.call("GET", "u:p")
    chk.eq(c.call("PEXPIRE", "u:p", "200"), b":1\r\n", "PEXPIRE through strata")
    ttl = harness.parse(d.call("PTTL", "u:p"))
    chk.ok(0 < ttl <= 200, "PEXPIRE reached redis", f"redis PTTL {ttl}")
    time.sleep(0.4)
    chk.eq(c.call("GET", "u:p"), b"$-1\r\n", "GET after PEXPIRE deadline")


def forwarded_invalidation(chk, c, d):
    cases = [
        (("RENAME", "u:r", "u:r2"), "u:r", b"$-1\r\n"),
        (("SETBIT", "u:r", "0", "1"), "u:r", None),
        (("COPY", "u:src", "u:r", "REPLACE"), "u:r", bulk(b"copied")),
        (("EVAL", "return redis.call('SET', KEYS[1], 'lua')", "1", "u:r"), "u:r", bulk(b"lua")),
        (("MOVE", "u:r", "1"), "u:r", b"$-1\r\n"),
        (("SORT", "u:empty-list", "STORE", "u:r"), "u:r", b"$-1\r\n"),
        (("LMOVE", "u:empty-list", "u:r", "LEFT", "LEFT"), "u:r", bulk(b"orig")),
    ]
    for args, key, want in cases:
        d.call("SET", "u:src", "copied")
        c.call("SET", key, "orig")
        c.call("GET", key)  # now in L1
        reply = c.call(*args)
        chk.ok(not reply.startswith(b"-"), f"forwarded {args[0]} runs", repr(reply))
        expected = d.call("GET", key) if want is None else want
        chk.eq(c.call("GET", key), expected, f"GET {key} after forwarded {args[0]}")
        d.call("FLUSHALL")
    c.call("SET", "u:m", "a")
    c.call("GET", "u:m")
    chk.eq(c.call("MULTI"), b"+OK\r\n", "MULTI")
    chk.eq(c.call("SET", "u:m", "b"), b"+QUEUED\r\n", "SET in MULTI is queued")
    chk.eq(c.call("EXEC"), b"*1\r\n+OK\r\n", "EXEC")
    chk.eq(c.call("GET", "u:m"), bulk(b"b"), "GET after a SET inside MULTI/EXEC")
    chk.eq(d.call("GET", "u:m"), bulk(b"b"), "MULTI/EXEC reached redis")
    c.call("SET", "u:h", "str")
    c.call("GET", "u:h")
    c.call("DEL", "u:h")
    chk.eq(c.call("HSET", "u:h", "f", "v"), b":1\r\n", "HSET on a key deleted through strata")
    chk.ok(c.call("GET", "u:h").startswith(b"-WRONGTYPE"), "GET on a hash is WRONGTYPE")
    # Written behind strata's back: report only (needs invalidation from Redis to be exact).
    c.call("SET", "u:behind", "old")
    c.call("GET", "u:behind")
    d.call("SET", "u:behind", "changed-directly")
    print(f"info: GET after a direct write to redis -> {c.call('GET', 'u:behind')!r}")


kRaceThreads = 6
kRaceOpsPerThread = 600
kRaceKeys = 12


def _race_worker(port, seed, direct):
    rng = random.Random(seed)
    c = harness.Client(port)
    for _ in range(kRaceOpsPerThread):
        k = "u:race:%d" % rng.randrange(kRaceKeys)
        op = rng.randrange(8 if not direct else 3)
        v = "t%d-%d" % (seed, rng.randrange(1000))
        args = [("SET", k, v), ("DEL", k), ("APPEND", k, v), ("GET", k), ("GET", k),
                ("SETRANGE", k, "2", v), ("GETDEL", k), ("SET", k, v, "PX", "60000")][op]
        c.call(*args)
    c.close()


def consistency_under_races(chk, c, d, strata):
    """Concurrent writers through strata plus one writing redis directly: afterwards strata's
    view of every key must equal redis's (no stale fill installed over a newer write)."""
    threads = [threading.Thread(target=_race_worker, args=(strata.port, i, False))
               for i in range(kRaceThreads)]
    threads.append(threading.Thread(target=_race_worker, args=(d.port, 99, True)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = ["u:race:%d" % i for i in range(kRaceKeys)]

    def converged():
        return all(c.call("GET", k) == d.call("GET", k) for k in keys)

    ok = harness.wait_for(converged, timeout=3.0, interval=0.2)
    stale = [(k, c.call("GET", k), d.call("GET", k)) for k in keys
             if c.call("GET", k) != d.call("GET", k)]
    chk.ok(ok and not stale, "strata agrees with redis after concurrent writes",
           f"{len(stale)} keys differ, e.g. {stale[:3]!r}")


def write_split_from_its_read_back(chk, d, redis):
    """A SET strata installs in L1 is followed on its connection by a read of the key (which
    makes Redis track it for L1). If Redis reads the two apart (a TCP segment boundary) and
    another client writes the key in between, Redis reports nothing to strata: L1 must not keep
    the SET's value. A fault proxy between strata and Redis holds the bytes after the SET while
    the key is written directly."""
    proxy = FaultProxy(redis.port)
    s = harness.start_strata(upstream=types.SimpleNamespace(port=proxy.port), tag="strata-split")
    c = Conn(s.port)
    try:
        for i in range(3):
            key, value = f"u:split:{i}", f"through-strata-{i}".encode()
            chk.eq(c.call("GET", key), b"$-1\r\n", f"{key}: a miss first")
            proxy.hold_after(b"$%d\r\n%s\r\n" % (len(value), value))
            chk.eq(c.call("SET", key, value), b"+OK\r\n", f"{key}: SET through strata")
            d.call("SET", key, "direct")
            chk.ok(proxy.release() == 1, f"{key}: the bytes after the SET were held")
            want = bulk(b"direct")
            ok = harness.wait_for(lambda: c.call("GET", key) == want, timeout=2.0, interval=0.05)
            chk.ok(ok, f"{key}: strata serves the direct write made between the SET and its "
                   f"read-back", f"GET answers {c.call('GET', key)!r}")
            # And the key is tracked from there: a later direct write reaches L1 too.
            d.call("SET", key, "direct-2")
            ok = harness.wait_for(lambda: c.call("GET", key) == bulk(b"direct-2"), timeout=2.0,
                                  interval=0.05)
            chk.ok(ok, f"{key}: a later direct write is seen", repr(c.call("GET", key)))
        # The write with nothing between it and its read-back is installed: a hit, no fill.
        c.call("SET", "u:split:plain", "v")
        before = info_field(c, "l1_hits")
        chk.eq(c.call("GET", "u:split:plain"), bulk(b"v"), "a plain SET is read back")
        chk.eq(info_field(c, "l1_hits"), before + 1, "and served from L1 (installed)")
    finally:
        c.close()
        s.stop()
        proxy.close()


def timed_call(c, *args):
    t0 = time.monotonic()
    reply = c.call(*args)
    return reply, time.monotonic() - t0


def upstream_down(chk, _c, redis, strata):
    # A fresh client: one that used MULTI/WATCH earlier may be pinned to an upstream connection.
    c = Conn(strata.port)
    c.call("SET", "u:kept", "cached")
    c.call("GET", "u:kept")
    redis.kill(signal.SIGKILL)
    time.sleep(0.3)
    c.settimeout(kDownReplyMaxS + 2)
    reply, took = timed_call(c, "GET", "u:kept")
    chk.eq(reply, bulk(b"cached"), "L1 hit served while redis is down")
    reply, took = timed_call(c, "GET", "u:never-cached")
    chk.ok(reply.startswith(b"-"), "miss while redis is down is an error", repr(reply))
    chk.ok(str(redis.port).encode() in reply or b"upstream" in reply.lower(),
           "the error names the upstream", repr(reply))
    chk.ok(took < kDownReplyMaxS, "miss answered promptly while down", f"{took:.1f}s")
    for args in (("HSET", "u:h2", "f", "v"), ("SET", "u:w", "v"), ("LPUSH", "u:l", "x")):
        reply, took = timed_call(c, *args)
        chk.ok(reply.startswith(b"-") and took < kDownReplyMaxS,
               f"{args[0]} while down: prompt error", f"{reply!r} after {took:.1f}s")
    fresh = Conn(strata.port, timeout=kDownReplyMaxS + 2)
    chk.eq(fresh.call("PING"), b"+PONG\r\n", "new clients are served while redis is down")
    fresh.close()


def upstream_back(chk, c, redis, strata):
    harness.restart_server(redis)
    d = Conn(redis.port)

    def works():
        # Fresh clients too: each upstream connection reconnects on its own backoff.
        fresh = [Conn(strata.port) for _ in range(kReconnectClients)]
        ok = all(f.call("SET", "u:back", "1") == b"+OK\r\n" for f in fresh)
        for f in fresh:
            f.close()
        return ok and c.call("GET", "u:back") == bulk(b"1") and d.call("GET", "u:back") == bulk(b"1")

    t0 = time.monotonic()
    chk.ok(harness.wait_for(works, timeout=kReconnectMaxS, interval=0.2),
           "strata reconnects to the restarted redis",
           f"last reply {c.call('SET', 'u:back', '1')!r}")
    print(f"reconnected after {time.monotonic() - t0:.1f}s")
    chk.eq(c.call("GET", "u:missing-after"), b"$-1\r\n", "misses work again")
    chk.eq(c.call("HSET", "u:h3", "f", "v"), b":1\r\n", "forwarding works again")
    d.call("SET", "u:fresh", "r")
    chk.eq(c.call("GET", "u:fresh"), bulk(b"r"), "fills work again")
    d.close()
    harness.alive_check(strata.port)


def info_is_redis(chk, c, d):
    """In front of Redis, INFO describes Redis (its keyspace, memory, commandstats) with
    strata's own sections after it; found by Redis's unit/info-command.tcl and others reading
    INFO fields (used_memory, blocked_clients, errorstats) through strata. (A connection
    pinned to Redis -- MULTI, blocking, RESP3 -- gets Redis's INFO alone.)"""
    c = Conn(c.port)  # a fresh connection: the earlier phases pinned theirs
    c.call("FLUSHALL")
    for i in range(5):
        c.call("RPUSH", f"u:info{i}", "x")  # forwarded: L1 holds none of them
    text = bytes(harness.parse(c.call("INFO")))
    chk.ok(b"db0:keys=5," in text, "INFO keyspace is Redis's (after this client's writes)",
           text[-300:])
    chk.ok(b"# Strata\r\n" in text and b"l1_hits:" in text, "INFO ends with strata's section",
           text[-300:])
    chk.ok(b"rejected_calls" in bytes(harness.parse(c.call("INFO", "all"))),
           "INFO all has Redis's commandstats", "")
    own = bytes(harness.parse(c.call("INFO", "strata")))
    chk.ok(own.startswith(b"# Strata") and b"# Server" not in own, "INFO strata: strata's only",
           own[:80])
    cpu = bytes(harness.parse(c.call("INFO", "cpu")))
    chk.ok(b"used_cpu_user" in cpu and b"# Strata" not in cpu, "INFO cpu: Redis's section only",
           cpu[:80])
    for i in range(5):
        d.call("DEL", f"u:info{i}")
    c.close()


def blocking_order(chk, c, d, redis):
    """A blocking command goes out at once, on a pinned connection made ahead of need, so a
    write another client sends right after it reaches Redis after it, as on a direct
    connection. Found by Redis's unit/type/stream-cgroups 'Blocking XREADGROUP: key deleted'
    (strata connected first, and the DEL won). One worker: two workers forward two clients'
    commands in either order under load (a proxy keeps each client's order, not real time)."""
    one = harness.start_strata(upstream=redis, extra=("--workers", "1"), tag="strata-1w")
    c = Conn(one.port)
    warm = [Conn(c.port) for _ in range(2)]  # a first pin leaves a spare
    for w in warm:
        w.call("BLPOP", "u:nothing", "0.01")
    kRounds = 5
    ok = 0
    for i in range(kRounds):
        time.sleep(0.05)  # the spare taken last round is connected again
        d.call("DEL", "u:bstream")
        d.call("XADD", "u:bstream", "1-1", "f", "v")
        d.call("XGROUP", "CREATE", "u:bstream", "g", "$")
        a = Conn(c.port)
        a.send("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "u:bstream", ">")
        c.call("DEL", "u:bstream")
        try:
            got = a.read(timeout=5)
        except Exception as e:  # noqa: BLE001 -- a timeout is the failure being tested
            got = f"<{type(e).__name__}>".encode()
        ok += b"no longer exists" in got
        a.close()
    chk.eq(ok, kRounds, "XREADGROUP BLOCK then another client's DEL: the reader sees the DEL")
    for w in warm:
        w.close()
    c.close()
    one.stop()


def replication_link(chk, c, d):
    """SYNC through strata (Redis's test suite attaches to the replication stream this way):
    the keepalive newlines, the RDB bulk without a trailing CRLF and the command stream are
    relayed as they come. Found by unit/type/string 'GETDEL propagate as DEL command to replica'
    (a slow RDB made strata close the link on the newlines: a hang)."""
    import socket
    d.call("SET", "u:sync-a", "1")
    d.call("CONFIG", "SET", "rdb-key-save-delay", "1500000")  # newlines before the RDB
    s = socket.create_connection(("127.0.0.1", c.port), timeout=10)
    try:
        s.sendall(b"SYNC\r\n")
        buf = b""
        deadline = time.monotonic() + 15
        while b"REDIS" not in buf and time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                break
            buf += data
        d.call("CONFIG", "SET", "rdb-key-save-delay", "0")
        chk.ok(buf.startswith(b"\n") and b"\r\nREDIS" in buf, "SYNC: newlines, then the RDB",
               buf[:60])
        # The RDB's end and the stream arrive without framing; a write shows up in the stream.
        c.call("SET", "u:sync-b", "streamed")
        while b"streamed" not in buf and time.monotonic() < deadline:
            data = s.recv(65536)
            if not data:
                break
            buf += data
        chk.ok(b"streamed" in buf, "SYNC: the command stream follows", buf[-80:])
    except OSError as e:
        chk.ok(False, "SYNC through strata", f"{type(e).__name__}: {e}")
    finally:
        s.close()
        d.call("CONFIG", "SET", "rdb-key-save-delay", "0")
    chk.eq(c.call("GET", "u:sync-b"), bulk(b"streamed"), "strata serves others after a SYNC")


def main():
    redis = harness.start_redis("redis-upstream")
    strata = harness.start_strata(upstream=redis, tag="strata-upstream")
    chk = harness.Checks()
    c = Conn(strata.port)
    d = Conn(redis.port)
    phases = [(p, (chk, c, d))
              for p in (fill_and_hit, write_through, forwarded_invalidation, info_is_redis,
                        replication_link)]
    phases += [(blocking_order, (chk, c, d, redis)),
               (write_split_from_its_read_back, (chk, d, redis)),
               (consistency_under_races, (chk, c, d, strata)),
               (upstream_down, (chk, c, redis, strata)), (upstream_back, (chk, c, redis, strata))]
    for phase, args in phases:
        print(f"--- {phase.__name__}", flush=True)
        try:
            phase(*args)
        except Exception as e:  # one broken phase is a failure, the next phases still run
            chk.ok(False, phase.__name__, f"{type(e).__name__}: {e}")
    d.close()
    c.close()
    if not strata.alive():
        chk.ok(False, "strata still running at the end", strata.log_tail())
    code = harness.finish(chk.failed)
    chk.ok(code == 0 or chk.failed, "no sanitizer reports")
    print(f"{chk.passed} passed, {chk.failed} failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
