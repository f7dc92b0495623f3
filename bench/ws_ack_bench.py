#!/usr/bin/env python3
"""Optimistic-write ack latency over the WebSocket channel: one strata in front of a
redis-server and a PostgreSQL (loopback, throwaway dirs), prefixes with L1 and L2 on under each
write strategy, a client writing one key at a time (send -> ack) on a subscribed connection, so
each ack also waits for its change to be queued first. Prints p50/p99/p99.9 per strategy, and
RESP SET's latency on the same prefix beside it (the channel's own cost is the difference).

    STRATA_BIN=build/release/proxy/strata bench/ws_ack_bench.py [--writes 3000]

Target (the WebSocket issue): ack p99 <= 2 ms for an L1+L2 prefix on loopback."""

import argparse
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import harness  # noqa: E402
import harness_pg  # noqa: E402
from policy_util import base_config, policy_block  # noqa: E402
import ws_raw  # noqa: E402

kSecret = "bench-secret"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] if xs else float("nan")


def resp_set_latency(port, prefix, n):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = []
    for i in range(n):
        key = f"{prefix}r{i % 100}".encode()
        val = str(i).encode()
        cmd = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(val), val)
        t = time.perf_counter()
        s.sendall(cmd)
        buf = b""
        while not buf.endswith(b"\r\n"):
            buf += s.recv(64)
        out.append((time.perf_counter() - t) * 1000)
    s.close()
    return out


def ws_ack_latency(ws_port, prefix, n):
    token = ws_raw.sign_token(kSecret, {"sub": "bench", "exp": int(time.time()) + 3600,
                                        "read": [prefix], "write": [prefix]})
    c, _ = ws_raw.open_ws(ws_port, token=token, session="bench-" + prefix.rstrip(":"))
    c.send({"t": "sub", "id": 1, "prefix": prefix})
    c.recv_until(lambda m: m.get("t") == "snap" and m.get("last"))
    out = []
    for i in range(n):
        t = time.perf_counter()
        c.send({"t": "set", "op": i + 1, "key": f"{prefix}w{i % 100}", "v": str(i)})
        m = c.recv_until(lambda m: m.get("t") in ("ack", "nack"))[-1]
        out.append((time.perf_counter() - t) * 1000)
        if m["t"] != "ack":
            raise RuntimeError(f"nack: {m}")
    c.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--writes", type=int, default=3000)
    a = ap.parse_args()
    redis = harness.start_redis()
    pg = harness_pg.start_postgres()
    ws_port = harness.free_port()
    strategies = ["write-through", "write-behind", "write-around"]
    cfg = (base_config(pg, [policy_block(f"{s}:", s, l1=True, l2=True) for s in strategies],
                       journal_extra="fdatasync = true\n") +
           f'\n[websocket]\nport = {ws_port}\nsecret = "{kSecret}"\nwrites_per_s = 0\n')
    srv = harness_pg.start_strata_config(cfg, upstream=redis)
    print(f"{a.writes} writes each, one at a time; latency in ms (p50 / p99 / p99.9); "
          f"{os.cpu_count()} cores shared with redis-server, PostgreSQL and this client")
    print(f"{'prefix':<16} {'WebSocket ack':>24} {'RESP SET':>24}")
    try:
        for s in strategies:
            ws = ws_ack_latency(ws_port, f"{s}:", a.writes)
            rs = resp_set_latency(srv.port, f"{s}:", a.writes)
            f = lambda xs: f"{pct(xs, 50):.2f} / {pct(xs, 99):.2f} / {pct(xs, 99.9):.2f}"
            print(f"{s + ':':<16} {f(ws):>24} {f(rs):>24}", flush=True)
    finally:
        harness.cleanup()


if __name__ == "__main__":
    main()
