#!/usr/bin/env python3
"""CLIENT TRACKING served by strata: client-side caches never serve a stale value.

Two caching clients of the kind libraries run, each with its own local cache filled on a miss
and emptied by invalidations: a RESP3 client (invalidate pushes on its own connection) and a
RESP2 client with REDIRECT to a connection subscribed to __redis__:invalidate. Against 2 strata
workers in front of redis-server and PostgreSQL:
- writers change keys of a PostgreSQL-backed prefix (write-through) and of a cache prefix
  through strata, and a writer changes cache-prefix keys directly in Redis;
- every value a cache returns is checked against the history of acknowledged writes: none may
  be older than a write acknowledged more than kBoundMs before the read began (0 stale reads);
- the same clients with tracking off serve stale values (the check can fail);
- invalidation delivery, write acknowledged to push received, is measured (p50/p99);
- node-redis's own clientSideCache runs the same loop (client_cache.js);
- a RESP2 client whose REDIRECT target disconnects is disconnected at the next invalidation
  (never left caching silently); a RESP3 one gets tracking-redir-broken;
- in front of Redis alone (where a tracked L1-hit GET goes through the worker's TrackingSeen),
  clients that re-read keys they track hear of every change, through strata or directly in
  Redis, again after re-reading the new values, and after tracking OFF and ON; and a key the
  table forgot for room (tracking-table-max-keys), told, then read again, is tracked again;
- CONFIG SET/GET tracking-table-max-keys are strata's (Redis's own limit left alone), queued
  by Redis inside MULTI;
- two clients redirecting to one connection: it hears of their keys in the order they changed,
  whichever workers the four connections are on."""

import os
import random
import select
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import harness_pg  # noqa: E402
from policy_util import base_config, finish, policy_block  # noqa: E402
from resp_client import _parse_at, encode  # noqa: E402

kSeconds = 6.0
kBoundMs = 100      # a cached value may trail an acknowledged write by at most this much
kKeysPerPrefix = 8
kReaders = 4        # caching clients per kind


class Wire:
    """One RESP connection with a byte buffer: complete frames are parsed as they arrive, in
    order; pushes (RESP3 '>' or RESP2 pub/sub messages on a subscribed connection) are handed
    to on_push as soon as no reply precedes them, so a push that followed a reply is applied
    after the caller has used that reply (as client libraries do)."""

    def __init__(self, port, on_push, pubsub=False):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.frames = []  # (is_push, value), in arrival order
        self.on_push = on_push
        self.pubsub = pubsub

    def _frames(self):
        while self.buf:
            try:
                value, end = _parse_at(self.buf, 0)
            except (ValueError, IndexError):
                return  # incomplete
            raw, self.buf = self.buf[:end], self.buf[end:]
            push = raw.startswith(b">") or (self.pubsub and isinstance(value, list) and value and
                                            value[0] == b"message")
            self.frames.append((push, value))
        self._apply_pushes()

    def _apply_pushes(self):
        while self.frames and self.frames[0][0]:
            self.on_push(self.frames.pop(0)[1])

    def poll(self, timeout=0.0):
        """Reads what has arrived (waiting up to timeout for the first bytes)."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        closed = False
        while r:
            data = self.sock.recv(65536)
            if not data:
                closed = True
                break
            self.buf += data
            r, _, _ = select.select([self.sock], [], [], 0)
        self._frames()
        if closed and not self.frames:
            raise ConnectionError("closed by strata")

    def call(self, *args):
        self.sock.sendall(encode(*args))
        while not self.frames or self.frames[0][0]:
            self.poll(10)
        return self.frames.pop(0)[1]

    def close(self):
        self.sock.close()


class CachingClient:
    """A local cache emptied by strata's invalidations (resp3: pushes; else REDIRECT)."""

    def __init__(self, port, resp3, tracking=True):
        self.cache = {}
        self.resp3 = resp3
        self.told = []  # (key, monotonic time told)
        self.data = Wire(port, self._pushed)
        self.inv = None
        if resp3:
            self.data.call("HELLO", "3")
            if tracking:
                assert self.data.call("CLIENT", "TRACKING", "ON") == b"OK"
        else:
            self.inv = Wire(port, self._pushed, pubsub=True)
            target = self.inv.call("CLIENT", "ID")
            self.inv.call("SUBSCRIBE", "__redis__:invalidate")
            if tracking:
                assert self.data.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(target)) == b"OK"

    def _pushed(self, msg):
        now = time.monotonic()
        keys = msg[1] if msg[0] == b"invalidate" else msg[2] if msg[0] == b"message" else None
        if msg[0] != b"invalidate" and msg[0] != b"message":
            return
        if keys is None:
            self.cache.clear()
            return
        for k in keys:
            self.cache.pop(k.decode(), None)
            self.told.append((k.decode(), now))

    def get(self, key):
        """The cached value, after taking every invalidation that has arrived; else a GET."""
        self.data.poll()
        if self.inv is not None:
            self.inv.poll()
        if key in self.cache:
            return self.cache[key], True
        v = self.data.call("GET", key)
        value = None if v is None else int(v)
        self.cache[key] = value
        self.data._apply_pushes()  # those that came after the reply
        return value, False

    def close(self):
        self.data.close()
        if self.inv is not None:
            self.inv.close()


class History:
    """Per key, the acknowledged writes: (value, acknowledged at), values increasing."""

    def __init__(self):
        self.mu = threading.Lock()
        self.acks = {}
        self.sent = {}

    def ack(self, key, value, at):
        with self.mu:
            self.acks.setdefault(key, []).append((value, at))

    def stale(self, key, value, started):
        """A write newer than `value` acknowledged more than kBoundMs before `started`."""
        with self.mu:
            for v, at in reversed(self.acks.get(key, [])):
                if at < started - kBoundMs / 1000 and (value is None or v > value):
                    return v
        return None


def keys():
    return [f"pg:k{i}" for i in range(kKeysPerPrefix)] + [f"c:k{i}" for i in range(kKeysPerPrefix)]


def writer(port, redis_port, hist, counter, mu, stop):
    rng = random.Random(os.getpid())
    via = harness.Conn(port)
    direct = harness.Conn(redis_port)
    while not stop.is_set():
        key = rng.choice(keys())
        with mu:  # one writer at a time per key keeps its values in acknowledgement order
            counter[key] = counter.get(key, 0) + 1
            value = counter[key]
            # A cache-prefix key is written straight to Redis now and then: strata hears of it
            # through its own tracking of Redis.
            conn = direct if key.startswith("c:") and rng.random() < 0.3 else via
            r = conn.call("SET", key, str(value))
            if r == b"+OK\r\n":
                hist.ack(key, value, time.monotonic())
        time.sleep(0.002)


def reader(port, resp3, tracking, hist, out, stop):
    rng = random.Random()
    c = CachingClient(port, resp3, tracking)
    reads = hits = stale = 0
    worst = []
    try:
        while not stop.is_set():
            key = rng.choice(keys())
            started = time.monotonic()
            value, hit = c.get(key)
            reads += 1
            hits += hit
            newer = hist.stale(key, value, started)
            if newer is not None:
                stale += 1
                if len(worst) < 3:
                    worst.append((key, value, newer, hit))
            time.sleep(0.001)
    finally:
        c.close()
    out.append({"resp3": resp3, "reads": reads, "hits": hits, "stale": stale, "worst": worst})


def run_loop(port, redis_port, tracking):
    hist = History()
    out = []
    counter = {}
    mu = threading.Lock()
    jobs = [(writer, (port, redis_port, hist, counter, mu)) for _ in range(2)]
    jobs += [(reader, (port, i % 2 == 0, tracking, hist, out)) for i in range(kReaders * 2)]
    harness.run_threads_for(kSeconds, jobs)
    return out


def delivery_latency(port, chk):
    """Write acknowledged through strata -> invalidation push received, 300 times."""
    c = CachingClient(port, resp3=True)
    w = harness.Conn(port)
    lat = []
    for i in range(300):
        key = f"c:lat{i % 10}"
        c.get(key)
        c.told.clear()
        t0 = time.monotonic()
        w.call("SET", key, str(i))
        deadline = t0 + 2
        while not c.told and time.monotonic() < deadline:
            c.data.poll(0.05)
        if c.told:
            lat.append((c.told[0][1] - t0) * 1000)
    c.close()
    chk.eq(len(lat), 300, "every write's invalidation pushed")
    lat.sort()
    if lat:
        p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
        print(f"invalidation delivery (write ack -> push received): p50 {p50:.3f} ms, "
              f"p99 {p99:.3f} ms over {len(lat)} writes")


def broken_redirect(port, chk):
    c2 = CachingClient(port, resp3=False)
    c2.get("c:b1")
    w = harness.Conn(port)
    gone = c2.inv.call("CLIENT", "ID")
    c2.inv.call("QUIT")
    c2.inv.close()
    harness.wait_for(lambda: f"id={gone} ".encode() not in w.call("CLIENT", "LIST"), timeout=5)
    w.call("SET", "c:b1", "x")
    closed = harness.wait_for(lambda: _closed(c2.data), timeout=5)
    chk.ok(closed, "RESP2 client whose REDIRECT target left is disconnected at the next change")
    c3 = CachingClient(port, resp3=True)
    target = Wire(port, lambda m: None)
    tid = target.call("CLIENT", "ID")
    assert c3.data.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(tid)) == b"OK"
    c3.get("c:b2")
    target.call("QUIT")
    target.close()
    harness.wait_for(lambda: f"id={tid} ".encode() not in w.call("CLIENT", "LIST"), timeout=5)
    got = []
    c3.data.on_push = got.append
    w.call("SET", "c:b2", "y")
    harness.wait_for(lambda: (c3.data.poll(0.05), bool(got))[1], timeout=5)
    chk.ok(got and got[0][0] == b"tracking-redir-broken" and got[0][1] == tid,
           "RESP3 client whose REDIRECT target left gets tracking-redir-broken", got)
    c3.close()


def node_cache(port, redis_port, chk):
    """node-redis's clientSideCache (client_cache.js) in the same kind of loop."""
    import test_client_lib  # noqa: E402 (run_workload)
    env = dict(os.environ, NODE_PATH=harness.ensure_node_packages())
    code, out = test_client_lib.run_workload(
        ["node", "client_cache.js", str(port), str(redis_port), str(int(kSeconds))], env)
    print("\n".join("    " + line for line in out.splitlines()), flush=True)
    chk.ok(code == 0, "node-redis clientSideCache: no stale read", out[-300:])


def _told_keys(pushes):
    out = {}
    for m in pushes:
        if m and m[0] == b"invalidate" and m[1] is not None:
            for k in m[1]:
                out[k.decode()] = out.get(k.decode(), 0) + 1
    return out


def _tracking_setup(port, redis_port, prefix, nkeys, nclients):
    """A writer through strata, one directly to Redis, nkeys keys set to 0, and nclients RESP3
    tracking clients (both workers), each with the list its pushes go to."""
    w = harness.Conn(port)
    direct = harness.Conn(redis_port)
    keys = [f"{prefix}:{i}" for i in range(nkeys)]
    for k in keys:
        w.call("SET", k, "0")
    clients = []
    for _ in range(nclients):
        got = []
        c = Wire(port, got.append)
        c.call("HELLO", "3")
        assert c.call("CLIENT", "TRACKING", "ON") == b"OK"
        clients.append((c, got))
    return w, direct, keys, clients


def repeated_reads(port, redis_port, chk):
    """Tracking clients re-reading keys they track (L1 hits: the TrackingSeen path) are told of
    every change once: directly in Redis (half the keys), through strata (the other half: at
    least once here; own_writes_told_once checks once). Three rounds:
    the second re-reads the values the first changed; the third reads, switches tracking OFF
    and ON (the table keeps the keys), and reads again."""
    w, direct, keys, clients = _tracking_setup(port, redis_port, "r", 16, 6)
    for rnd in range(3):
        for c, got in clients:
            if rnd == 2:
                for k in keys:
                    c.call("GET", k)
                assert c.call("CLIENT", "TRACKING", "OFF") == b"OK"
                assert c.call("CLIENT", "TRACKING", "ON") == b"OK"
            got.clear()
            for _ in range(20):
                for k in keys:
                    c.call("GET", k)
        for i, k in enumerate(keys):
            (w if i % 2 else direct).call("SET", k, str(rnd + 1))
        for n, (c, got) in enumerate(clients):
            harness.wait_for(lambda: (c.poll(0.05), set(_told_keys(got)) >= set(keys))[1],
                             timeout=5)
            told = _told_keys(got)
            chk.eq(sorted(told), sorted(keys), f"round {rnd}, client {n}: every key told")
            twice = [k for i, k in enumerate(keys) if i % 2 == 0 and told.get(k, 0) != 1]
            chk.eq(twice, [], f"round {rnd}, client {n}: a direct change told once")
    for c, _ in clients:
        c.close()


def own_writes_told_once(port, redis_port, chk, rounds=150):
    """Redis reports a write strata forwarded to strata's own upstream tracking too (to each
    worker whose shared connections read the key), on another socket than the write's reply: a
    report read after the reply, when the client has read the key again, must not be told once
    more (the client would drop a current value, and count one invalidation too many). Writes
    that invalidate (INCR) make every re-read a fill, so Redis tracks the key for the readers'
    connections and reports each write. A direct write to Redis is still told, every time."""
    w, direct, keys, clients = _tracking_setup(port, redis_port, "o", 8, 4)
    extra, missed = [], []
    for rnd in range(rounds):
        for c, got in clients:
            for k in keys:
                c.call("GET", k)
            got.clear()
        via = direct if rnd % 5 == 4 else w
        for k in keys:
            via.call("INCR", k)
        for n, (c, got) in enumerate(clients):
            harness.wait_for(lambda: (c.poll(0.01), set(_told_keys(got)) >= set(keys))[1],
                             timeout=5)
            told = _told_keys(got)
            missed += [(rnd, n, k) for k in keys if told.get(k, 0) == 0]
            got.clear()
            for k in keys:  # read again at once: a late report of the write would follow
                c.call("GET", k)
        for c, got in clients:
            c.poll(0.003)
            w.call("PING")
        for n, (c, got) in enumerate(clients):
            c.poll(0.002)
            # (A direct write is reported once per strata connection that read the key, on
            # each worker's tracking connection: a later report may reach a re-reader.)
            if via is w:
                extra += [(rnd, n, k) for k, v in _told_keys(got).items() if v]
    chk.eq(missed, [], f"{rounds} rounds: every write told (every 5th made directly in Redis)")
    chk.eq(extra[:5], [], f"{rounds} rounds: no write told again after the key was re-read "
           f"({len(extra)} extra)")
    for c, _ in clients:
        c.close()


def evicted_then_reread(port, chk):
    """Past tracking-table-max-keys the table forgets keys and tells their readers; the L1
    entry of such a key is unchanged, so only the tell clearing the client's TrackingSeen bit
    makes a re-read of it go back to the table. Every key the client read must be told after
    its last read: forgotten for room, or changed."""
    w = harness.Conn(port)
    keys = [f"e:{i}" for i in range(12)]
    for k in keys:
        w.call("SET", k, "0")
    log = []  # ("get", key) and ("told", key), in the order the client saw them
    c = Wire(port, lambda m: log.extend(("told", k) for k in _told_keys([m])))
    c.call("HELLO", "3")
    assert c.call("CLIENT", "TRACKING", "ON") == b"OK"
    w.call("CONFIG", "SET", "tracking-table-max-keys", "4")
    rng = random.Random(7)
    for _ in range(200):
        k = rng.choice(keys)
        c.call("GET", k)
        log.append(("get", k))
        c.poll(0.002)  # the evictions' tells

    def untold():
        last = {}
        for i, (what, k) in enumerate(log):
            if what == "get":
                last[k] = i
        return sorted(k for k, i in last.items() if ("told", k) not in log[i + 1:])

    for k in keys:
        w.call("SET", k, "1")
    harness.wait_for(lambda: (c.poll(0.05), not untold())[1], timeout=5)
    chk.eq(untold(), [], "every key read is told after its last read (forgotten or changed)")
    w.call("CONFIG", "SET", "tracking-table-max-keys", "1000000")
    c.close()


def table_limit_is_strata_own(port, redis_port, chk):
    """CONFIG SET/GET tracking-table-max-keys through strata are strata's table's, answered as
    Redis answers them (the bytes compared); Redis's own limit (which bounds the keys Redis
    tracks for strata's L1) stays as it was. Inside MULTI the command is Redis's to queue."""
    def get_reply(name, value):
        return b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(name), name, len(value), value)

    direct = harness.Conn(redis_port)
    before = direct.call("CONFIG", "GET", "tracking-table-max-keys")
    c = harness.Conn(port)
    chk.eq(c.call("CONFIG", "SET", "tracking-table-max-keys", "4"), b"+OK\r\n", "CONFIG SET answered")
    chk.eq(c.call("CONFIG", "GET", "Tracking-Table-Max-Keys"),
           get_reply(b"Tracking-Table-Max-Keys", b"4"),
           "CONFIG GET: strata's limit, under the name as asked")
    chk.eq(direct.call("CONFIG", "GET", "tracking-table-max-keys"), before,
           "Redis's own tracking-table-max-keys is left alone")
    for value in ("x", "-1", "01"):
        chk.eq(c.call("CONFIG", "SET", "tracking-table-max-keys", value),
               direct.call("CONFIG", "SET", "tracking-table-max-keys", value),
               f"CONFIG SET {value}: Redis's error")
    m = harness.Conn(port)
    chk.eq(m.call("MULTI"), b"+OK\r\n", "MULTI")
    chk.eq(m.call("CONFIG", "SET", "tracking-table-max-keys", "5"), b"+QUEUED\r\n",
           "inside MULTI the command is queued by Redis")
    chk.eq(m.call("EXEC"), b"*1\r\n+OK\r\n", "EXEC")
    chk.eq(c.call("CONFIG", "GET", "tracking-table-max-keys"),
           get_reply(b"tracking-table-max-keys", b"5"),
           "strata's table took the limit set inside MULTI too")
    direct.call("CONFIG", "SET", "tracking-table-max-keys", "1000000")
    chk.eq(c.call("CONFIG", "SET", "tracking-table-max-keys", "1000000"), b"+OK\r\n", "reset")
    for conn in (c, m, direct):
        conn.close()


def _busy_workers(port, stop, conns=8, depth=200):
    """Threads sending pipelines of L1-hit GETs until stop is set (the workers stay busy)."""
    harness.Conn(port).call("SET", "ro:load", "x")
    request = encode("GET", "ro:load") * depth
    reply_bytes = len(b"$1\r\nx\r\n") * depth

    def run():
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            while not stop.is_set():
                s.sendall(request)
                got = 0
                while got < reply_bytes:
                    data = s.recv(65536)
                    if not data:
                        return
                    got += len(data)
        finally:
            s.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(conns)]
    for t in threads:
        t.start()
    return threads


def redirect_order(port, chk, rounds=300):
    """Two clients redirect to one connection, each reads one key, a third changes both keys
    in turn (Redis's "Different clients can redirect to the same connection"): the target hears
    of them in that order. Through the readers' workers one invalidation may take a hop more than
    the other and overtake it; the worker where a key changes sends a redirected invalidation
    to the target itself. Busy workers (a pipelined load beside) widen the window."""
    stop = threading.Event()
    load = _busy_workers(port, stop)
    out_of_order = []
    try:
        time.sleep(0.5)
        for setup in range(rounds // 20):
            # New connections each time: they land on either worker.
            target, a, b, w = (harness.Conn(port) for _ in range(4))
            tid = target.value("CLIENT", "ID")
            target.send("SUBSCRIBE", "__redis__:invalidate")
            target.read()
            for c in (a, b):
                chk.eq(c.call("CLIENT", "TRACKING", "on", "REDIRECT", str(tid)), b"+OK\r\n",
                       "REDIRECT accepted")
            for i in range(20):
                w.call("MSET", "ro:1", "1", "ro:2", "1")
                a.call("GET", "ro:1")
                b.call("GET", "ro:2")
                w.call("INCR", "ro:1")
                w.call("INCR", "ro:2")
                got = []
                for _ in range(2):
                    m = harness.parse(target.read(5))
                    got.append(m[2][0].decode() if m[2] else None)
                if got != ["ro:1", "ro:2"]:
                    out_of_order.append((setup, i, got))
            for c in (target, a, b, w):
                c.close()
    finally:
        stop.set()
        for t in load:
            t.join()
    chk.eq(out_of_order[:3], [], f"{rounds} rounds: a redirect target hears of two clients' keys "
           f"in the order they changed ({len(out_of_order)} out of order)")


def _closed(wire):
    try:
        wire.poll(0.05)
        return False
    except (ConnectionError, OSError):
        return True


def main():
    chk = harness.Checks()
    if harness.fake_run():
        return 0
    pg = harness_pg.start_postgres("pg-track")
    redis = harness.start_redis("redis-track")
    cfg = base_config(pg, [policy_block("pg:", "write-through"), policy_block("c:", "cache")])
    srv = harness_pg.start_strata_config(cfg, upstream=redis, extra=("--workers", "2"),
                                         tag="strata-track")
    delivery_latency(srv.port, chk)
    broken_redirect(srv.port, chk)
    l1_only = harness.start_strata(upstream=redis, extra=("--workers", "2"), tag="strata-track-l1")
    repeated_reads(l1_only.port, redis.port, chk)
    redirect_order(l1_only.port, chk)
    own_writes_told_once(l1_only.port, redis.port, chk)
    table_limit_is_strata_own(l1_only.port, redis.port, chk)
    evicted_then_reread(l1_only.port, chk)
    node_cache(srv.port, redis.port, chk)
    for tracking in (True, False):
        out = run_loop(srv.port, redis.port, tracking)
        for resp3 in (True, False):
            rows = [o for o in out if o["resp3"] == resp3]
            reads = sum(o["reads"] for o in rows)
            hits = sum(o["hits"] for o in rows)
            stale = sum(o["stale"] for o in rows)
            kind = "RESP3 push" if resp3 else "RESP2 REDIRECT"
            print(f"tracking {'on ' if tracking else 'off'} {kind}: {reads} reads, {hits} from the "
                  f"local cache, {stale} stale past {kBoundMs} ms "
                  f"{[o['worst'] for o in rows if o['worst']][:2]}")
            chk.ok(reads > 200 and hits > reads // 4, f"{kind}: the cache served reads", (reads, hits))
            if tracking:
                chk.eq(stale, 0, f"{kind}, tracking on: no stale read past {kBoundMs} ms")
            else:
                chk.ok(stale > 0, f"{kind}, tracking off (control): stale reads seen", stale)
    return finish(chk, [srv, l1_only, redis])


if __name__ == "__main__":
    sys.exit(main())
