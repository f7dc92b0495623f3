#!/usr/bin/env python3
"""RESP3 clients are served like RESP2 clients (issue 11):

- the reply-shape table strata converts RESP2 replies with (protocol/reply_shapes_table.inc)
  is what redis-server answers now: scripts/gen_reply_shapes.py derives it again against the
  redis-server on PATH (each probe in HELLO 2 and HELLO 3) and must get the same file;
- a client that sends HELLO 3 and then GET of one key 200 times gets 199 L1 hits, as a RESP2
  client does, with replies in RESP3;
- 1,000 idle RESP3 clients (each has sent HELLO 3 and a few commands) add no upstream
  connection: Redis's connected_clients stays at what strata holds with none of them.

The differential compatibility suite (test_compat.py) compares every reply byte for byte."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

kGets = 200
kIdleClients = 1000
kRoot = os.environ.get("STRATA_SOURCE_DIR",
                       os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def info_int(client, section, name):
    text = harness.parse(client.call("INFO", section))
    for line in bytes(text).splitlines():
        if line.startswith(name.encode() + b":"):
            return int(line.split(b":", 1)[1])
    raise AssertionError(f"INFO {section} has no {name}")


def check_table(checks, redis):
    gen = os.path.join(kRoot, "scripts", "gen_reply_shapes.py")
    table = os.path.join(kRoot, "protocol", "reply_shapes_table.inc")
    r = subprocess.run([sys.executable, gen, "--port", str(redis.port), "--check", table],
                       capture_output=True, text=True, timeout=300)
    checks.ok(r.returncode == 0, "reply-shape table matches redis-server (HELLO 2 vs HELLO 3)",
              r.stdout[-3000:] + r.stderr[-2000:])


def l1_hits(checks, strata, redis, resp):
    """GET of one key kGets times on a client speaking `resp`: L1 hits counted by strata."""
    key = f"resp3:hits:{resp}"
    up = harness.Client(redis.port)
    up.call("SET", key, "value")
    up.close()
    c = harness.Client(strata.port)
    if resp == 3:
        checks.ok(c.call("HELLO", "3").startswith(b"%"), "HELLO 3 answered with a map")
    admin = harness.Client(strata.port)
    before = info_int(admin, "strata", "l1_hits")
    replies = set()
    for _ in range(kGets):
        replies.add(c.call("GET", key))
    hits = info_int(admin, "strata", "l1_hits") - before
    checks.eq(replies, {b"$5\r\nvalue\r\n"}, f"RESP{resp} GET replies")
    checks.eq(c.call("GET", key + ":missing"), b"_\r\n" if resp == 3 else b"$-1\r\n",
              f"RESP{resp} GET of a missing key")
    c.close()
    admin.close()
    print(f"RESP{resp}: {kGets} GETs of one key, {hits} L1 hits", flush=True)
    return hits


def idle_clients(checks, strata, redis):
    up = harness.Client(redis.port)
    probe = harness.Client(strata.port)
    probe.call("GET", "resp3:warm")  # every worker's shared connections are up by now
    probe.close()
    base = info_int(up, "clients", "connected_clients")
    clients = []
    try:
        for i in range(kIdleClients):
            c = harness.Client(strata.port)
            c.send(harness.encode("HELLO", "3") + harness.encode("GET", f"resp3:idle:{i % 10}") +
                   harness.encode("HGETALL", "resp3:idle:h"))
            clients.append(c)
        for c in clients:
            c.read_reply()
            c.read_reply()
            checks.eq(c.read_reply(), b"%0\r\n", "HGETALL of a missing hash, RESP3")
        with_idle = info_int(up, "clients", "connected_clients")
    finally:
        for c in clients:
            c.close()
    print(f"upstream connected_clients (this test's own included): {base} before, "
          f"{with_idle} with {kIdleClients} RESP3 clients connected", flush=True)
    checks.eq(with_idle, base, f"upstream connections with {kIdleClients} idle RESP3 clients")
    up.close()


def main():
    checks = harness.Checks()
    redis = harness.start_redis("redis-resp3")
    check_table(checks, redis)
    strata = harness.start_strata(upstream=redis, tag="strata-resp3")
    hits2 = l1_hits(checks, strata, redis, 2)
    hits3 = l1_hits(checks, strata, redis, 3)
    checks.eq(hits2, kGets - 1, "RESP2 L1 hits")
    checks.eq(hits3, hits2, "RESP3 L1 hits equal RESP2's")
    idle_clients(checks, strata, redis)
    checks.ok(strata.alive(), "strata still running")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return harness.finish(checks.failed)


if __name__ == "__main__":
    sys.exit(main())
