#!/usr/bin/env python3
"""The change seam and the cache strategy's fields, standalone and in front of Redis:
- every change leaves through one seam: INFO strata's changes_by_op / changes_by_source count
  native writes (standalone, and L1-only prefixes in front of Redis), forwarded writes, Redis
  tracking invalidations, and L1's own expiries and evictions where L1 is the only tier;
  INFO policies counts them per prefix (changes=);
- a cache-strategy policy's ttl_ms acts: a key written without a TTL of its own gets the
  policy's, in L1 and in Redis (a forwarded SET, MSET or LPUSH alike), and is gone after it;
  a TTL the command gives stays the command's."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

kTtlMs = 1000
kGoneAfterS = 1.4  # past the TTL, with room for the loop's tick
kOwnTtlS = 100

CONFIG = f"""
[[policy]]
prefix = "t:"
ttl_ms = {kTtlMs}

[[policy]]
prefix = "o:"
l2 = false
ttl_ms = {kTtlMs}

[[policy]]
prefix = "r:"
l1 = false
ttl_ms = {kTtlMs}
"""


def info_fields(c, section):
    """{name: value} of 'name:value' lines; the comma lists as {k: int}."""
    text = bytes(harness.parse(c.call("INFO", section))).decode()
    out = {}
    for line in text.splitlines():
        if ":" not in line or line.startswith("#"):
            continue
        name, value = line.split(":", 1)
        parts = value.split(",")
        if all("=" in kv for kv in parts):
            out[name] = dict(kv.split("=", 1) for kv in parts)
        else:
            out[name] = value
    return out


def changes(c):
    f = info_fields(c, "strata")
    ops = {k: int(v) for k, v in f["changes_by_op"].items()}
    sources = {k: int(v) for k, v in f["changes_by_source"].items()}
    return ops, sources


def prefix_changes(c, prefix):
    for name, value in info_fields(c, "policies").items():
        if name.startswith("policy_") and isinstance(value, dict) and value["prefix"] == prefix:
            return int(value["changes"])
    return None


def pttl(c, key):
    return harness.parse(c.call("PTTL", key))


def standalone(chk, tmp):
    path = os.path.join(tmp, "standalone.toml")
    with open(path, "w") as f:
        f.write(CONFIG)
    srv = harness.start_strata(extra=("--config", path, "--workers", "2",
                                      "--maxmemory", str(4 << 20)), tag="strata-seam")
    c = harness.Conn(srv.port)
    ops0, src0 = changes(c)
    c.call("SET", "t:a", "v")
    c.call("SET", "t:own", "v", "EX", str(kOwnTtlS))
    c.call("MSET", "t:m1", "v", "t:m2", "v")
    c.call("INCR", "t:n")
    c.call("SET", "p:a", "v")
    for k in ("t:a", "t:m1", "t:m2", "t:n"):
        t = pttl(c, k)
        chk.ok(0 < t <= kTtlMs, f"standalone: {k} gets the policy's ttl_ms", t)
    chk.ok(pttl(c, "t:own") > kTtlMs, "standalone: a command's own TTL stays", pttl(c, "t:own"))
    chk.eq(pttl(c, "p:a"), -1, "standalone: no policy TTL, no TTL")
    ops, src = changes(c)
    chk.ok(src["native"] - src0["native"] >= 6, "standalone: native writes leave through the seam",
           (src0, src))
    chk.ok(prefix_changes(c, "t:") is not None and prefix_changes(c, "t:") >= 5,
           "standalone: changes counted per prefix", prefix_changes(c, "t:"))
    time.sleep(kGoneAfterS)
    chk.eq(harness.parse(c.call("GET", "t:a")), None, "standalone: gone after ttl_ms")
    chk.ok(harness.wait_for(lambda: changes(c)[0]["expire"] > ops0["expire"], timeout=5),
           "standalone: L1 expiries leave through the seam (L1 is the only tier)", changes(c)[0])
    # Evictions: far more than 4 MiB of values.
    before = changes(c)[0]["evict"]
    big = "x" * 4096
    for i in range(3000):
        c.call("SET", f"fill:{i}", big)
    chk.ok(changes(c)[0]["evict"] > before, "standalone: evictions leave through the seam",
           changes(c)[0])
    srv.stop()


def proxy(chk, tmp):
    redis = harness.start_redis("redis-seam")
    path = os.path.join(tmp, "proxy.toml")
    with open(path, "w") as f:
        f.write(CONFIG)
    srv = harness.start_strata(upstream=redis, extra=("--config", path, "--workers", "2"),
                               tag="strata-seam-proxy")
    c = harness.Conn(srv.port)
    direct = harness.Conn(redis.port)
    _, src0 = changes(c)
    c.call("SET", "t:a", "v")
    c.call("SET", "t:own", "v", "PX", str(kOwnTtlS * 1000))
    c.call("MSET", "t:m1", "v", "t:m2", "v")
    c.call("LPUSH", "t:l", "x")
    c.call("SET", "r:a", "v")
    c.call("SET", "o:a", "v")
    c.call("SET", "p:a", "v")
    for k in ("t:a", "t:m1", "t:m2", "t:l", "r:a"):
        t = pttl(direct, k)
        chk.ok(0 < t <= kTtlMs, f"proxy: {k} gets the policy's ttl_ms in Redis", t)
    chk.ok(pttl(direct, "t:own") > kTtlMs, "proxy: a command's own TTL stays", pttl(direct, "t:own"))
    chk.eq(pttl(direct, "p:a"), -1, "proxy: no policy TTL, no TTL")
    chk.eq(harness.parse(direct.call("EXISTS", "o:a")), 0, "proxy: an l2 = false key stays in L1")
    t = pttl(c, "o:a")
    chk.ok(0 < t <= kTtlMs, "proxy: an L1-only key gets the policy's ttl_ms", t)
    chk.eq(harness.parse(c.call("GET", "t:a")), b"v", "proxy: GET t:a (now in L1)")
    _, src = changes(c)
    chk.ok(src["forwarded"] - src0["forwarded"] >= 6, "proxy: forwarded writes leave through the seam",
           (src0, src))
    chk.ok(src["native"] - src0["native"] >= 1, "proxy: L1-only writes leave through the seam",
           (src0, src))
    # Another client of Redis changes a key strata holds: tracking says so, through the seam.
    c.call("SET", "p:tracked", "1")
    chk.eq(harness.parse(c.call("GET", "p:tracked")), b"1", "proxy: GET p:tracked")
    direct.call("SET", "p:tracked", "2")
    chk.ok(harness.wait_for(lambda: changes(c)[1]["tracking"] > src["tracking"], timeout=5),
           "proxy: tracking invalidations leave through the seam", changes(c)[1])
    chk.eq(harness.parse(c.call("GET", "p:tracked")), b"2", "proxy: the new value after tracking")
    time.sleep(kGoneAfterS)
    for k in ("t:a", "t:m1", "o:a", "r:a"):
        chk.eq(harness.parse(c.call("GET", k)), None, f"proxy: {k} gone after ttl_ms")
    chk.eq(harness.parse(c.call("GET", "t:own")), b"v", "proxy: t:own still there")
    srv.stop()
    redis.stop()


def main():
    chk = harness.Checks()
    if harness.fake_run():
        return 0
    tmp = harness.make_tmpdir("seam")
    for step in (standalone, proxy):
        try:
            step(chk, tmp)
        except Exception as e:  # report and go on
            chk.ok(False, step.__name__, f"{type(e).__name__}: {e}")
    print(f"{chk.passed} passed, {chk.failed} failed")
    return harness.finish(chk.failed > 0)


if __name__ == "__main__":
    sys.exit(main())
