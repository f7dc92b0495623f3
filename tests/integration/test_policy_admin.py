#!/usr/bin/env python3
"""Issue-3 admin surface with a real PostgreSQL and redis-server: STRATA POLICY LIST/GET/SET,
STRATA RELOAD (good and bad file), SIGHUP reload, INFO's # Policies section (fields present and
moving), and shutdown (SHUTDOWN, SIGTERM) draining write-behind within the deadline, saying what
stays in the journal, which a restart replays."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from policy_util import (  # noqa: E402
    Conn, base_config, finish, flush_behind, global_int, info_policies, kOk, kSchema, pg_value,
    policy_block, run_phases)

kFields = ["prefix", "strategy", "l1", "l2", "ttl_ms", "negative_ttl_ms", "refresh_point",
           "stampede_lease_ms", "flush_interval_ms", "max_batch", "max_queue_depth",
           "queue_wait_ms", "l1_bytes", "eviction", "sync", "conflict", "table",
           "key_column", "value_column", "version_column"]
kInfoFields = ["prefix", "strategy", "l1_hits", "l2_hits", "pg_hits", "misses", "fills",
               "writes", "wb_queue_depth", "wb_oldest_ms", "wb_batches", "wb_rows", "wb_retries",
               "refreshes", "pg_waits", "dead_letters"]
kInfoGlobals = ["pg_available", "wb_queue_depth", "journal_live_records", "journal_segments",
                "dead_letters"]


def policies(ttl_user=300000):
    return [
        policy_block("user:", "write-through", ttl_ms=ttl_user, negative_ttl_ms=5000),
        policy_block("chat:", "write-behind", flush_interval_ms=100, max_batch=128),
        policy_block("chat:room:", "write-behind", flush_interval_ms=200),
        policy_block("stream:", "write-around", l1=False),
        policy_block("stats:", "refresh-ahead", l1=False, ttl_ms=10000, refresh_point=0.75),
    ]


def as_dict(flat):
    if not isinstance(flat, list) or len(flat) % 2:
        return None
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def policy_get(c, prefix):
    """{field: value} of STRATA POLICY GET, or {} on an error reply."""
    return as_dict(c.value("STRATA", "POLICY", "GET", prefix)) or {}


def policy_get_list(chk, c, pg):
    flat = c.value("STRATA", "POLICY", "GET", "user:")
    chk.ok(isinstance(flat, list) and [flat[i].decode() for i in range(0, len(flat), 2)] == kFields,
           "POLICY GET: the fields in describe_policy order", flat)
    got = as_dict(flat) or {}
    want = {"prefix": b"user:", "strategy": b"write-through", "l1": b"yes", "l2": b"yes",
            "ttl_ms": b"300000", "negative_ttl_ms": b"5000", "table": b"strata_kv",
            "key_column": b"key", "value_column": b"value", "version_column": b"version"}
    chk.eq({k: got.get(k) for k in want}, want, "POLICY GET user: values")
    chk.eq(policy_get(c, "stream:").get("l1"), b"no", "POLICY GET: l1 no")
    chk.eq(float(policy_get(c, "stats:").get("refresh_point", b"0")), 0.75, "refresh_point")
    chk.eq(policy_get(c, "").get("strategy"), b"cache", "POLICY GET '' is the default")
    reply = c.call("STRATA", "POLICY", "GET", "nosuch:")
    chk.eq(reply, b"-ERR no policy for prefix 'nosuch:'\r\n", "POLICY GET of an unknown prefix")
    lst = c.value("STRATA", "POLICY", "LIST")
    prefixes = [as_dict(p).get("prefix") if as_dict(p) else p for p in (lst or [])]
    chk.eq(prefixes[-1:], [b""], "POLICY LIST ends with the default")
    want = [b"user:", b"chat:", b"chat:room:", b"stream:", b"stats:", b""]
    chk.eq(sorted(prefixes), sorted(want), "POLICY LIST: every policy once")
    lens = [len(p) for p in prefixes[:-1]]
    chk.ok(lens == sorted(lens, reverse=True), "POLICY LIST: longest prefix first", prefixes)
    chk.eq(prefixes[:1], [b"chat:room:"], "POLICY LIST: the longest prefix leads")


def policy_set(chk, c, pg):
    chk.eq(c.call("STRATA", "POLICY", "SET", "user:", "ttl_ms", "1234"), kOk, "POLICY SET ttl_ms")
    chk.eq(policy_get(c, "user:").get("ttl_ms"), b"1234", "POLICY SET took effect")
    c.call("SET", "user:ttl", "v")
    chk.eq(pg_value(pg, "user:ttl"), b"v", "user: still write-through after POLICY SET")
    reply = c.call("STRATA", "POLICY", "SET", "user:", "strategy", "write-behnd")
    chk.ok(reply.startswith(b"-ERR") and b"strategy" in reply and b"write-through" in reply,
           "POLICY SET with a bad value: the validation message", reply)
    chk.eq(policy_get(c, "user:").get("strategy"), b"write-through", "bad POLICY SET: unchanged")
    reply = c.call("STRATA", "POLICY", "SET", "user:", "nosuchfield", "1")
    chk.ok(reply.startswith(b"-ERR") and b"nosuchfield" in reply, "POLICY SET unknown field", reply)
    reply = c.call("STRATA", "POLICY", "SET", "stats:", "refresh_point", "1.5")
    chk.ok(reply.startswith(b"-ERR") and b"refresh_point" in reply, "POLICY SET refresh_point 1.5",
           reply)
    # An unknown prefix creates a policy copied from the default, then changed.
    chk.eq(c.call("STRATA", "POLICY", "SET", "dyn:", "strategy", "write-through"), kOk,
           "POLICY SET on a new prefix")
    got = policy_get(c, "dyn:")
    chk.eq((got.get("prefix"), got.get("strategy")), (b"dyn:", b"write-through"),
           "the new policy exists")
    chk.eq(c.call("SET", "dyn:k", "through"), kOk, "SET under the new policy")
    chk.eq(pg_value(pg, "dyn:k"), b"through", "the new policy writes through to PG")
    chk.eq(c.call("STRATA", "POLICY", "SET", "dyn:", "strategy", "cache"), kOk, "back to cache")
    c.call("SET", "dyn:k2", "cache-only")
    chk.eq(pg_value(pg, "dyn:k2"), None, "strategy cache: PG untouched")


def reload_cmd(chk, c, pg, srv):
    good = base_config(pg, policies(ttl_user=777))
    srv.write(good)
    chk.eq(c.call("STRATA", "RELOAD"), kOk, "STRATA RELOAD with a good file")
    chk.eq(policy_get(c, "user:").get("ttl_ms"), b"777", "RELOAD applied the file")
    chk.eq(c.call("STRATA", "POLICY", "GET", "dyn:"), b"-ERR no policy for prefix 'dyn:'\r\n",
           "RELOAD replaced the POLICY SET additions")
    before = c.value("STRATA", "POLICY", "LIST")
    srv.write(good.replace('strategy = "write-around"', 'strategy = "write-arund"'))
    reply = c.call("STRATA", "RELOAD")
    chk.ok(reply.startswith(b"-ERR reload refused: ") and b"strata.toml:" in reply and
           b"strategy" in reply, "RELOAD with a bad file is refused with the message", reply)
    chk.eq(c.value("STRATA", "POLICY", "LIST"), before, "bad RELOAD: policies unchanged")
    c.call("SET", "user:after-bad", "x")
    chk.eq(pg_value(pg, "user:after-bad"), b"x", "bad RELOAD: user: still writes through")
    srv.write("this is [ not toml")
    reply = c.call("STRATA", "RELOAD")
    chk.ok(reply.startswith(b"-ERR reload refused: "), "RELOAD of a non-TOML file refused", reply)
    os.rename(srv.path, srv.path + ".away")
    reply = c.call("STRATA", "RELOAD")
    chk.ok(reply.startswith(b"-ERR reload refused: "), "RELOAD with the file missing", reply)
    os.rename(srv.path + ".away", srv.path)
    chk.eq(c.value("STRATA", "POLICY", "LIST"), before, "refused RELOADs: policies unchanged")


def sighup(chk, c, pg, srv):
    srv.write(base_config(pg, policies(ttl_user=4242)))
    os.kill(srv.pid, signal.SIGHUP)
    chk.ok(harness.wait_for(lambda: policy_get(c, "user:").get("ttl_ms") == b"4242", 5),
           "SIGHUP reloads the file", policy_get(c, "user:"))
    srv.write(base_config(pg, policies(ttl_user=5)).replace('"chat:room:"', '"chat:"'))
    os.kill(srv.pid, signal.SIGHUP)
    time.sleep(0.5)
    chk.ok(srv.alive(), "a bad file on SIGHUP does not stop strata")
    chk.eq(policy_get(c, "user:").get("ttl_ms"), b"4242", "bad SIGHUP: policies unchanged")
    srv.write(base_config(pg, policies()))


def info_section(chk, c, pg):
    c.call("SET", "user:i", "1")
    c.call("GET", "user:i")
    c.call("SET", "chat:i", "1")
    pol = info_policies(c)
    chk.eq(sorted(pol), sorted(["user:", "chat:", "chat:room:", "stream:", "stats:", ""]),
           "INFO # Policies: one line per policy")
    missing = {p: [f for f in kInfoFields if f not in v] for p, v in pol.items()}
    chk.ok(pol and not any(missing.values()), "INFO # Policies: every field", missing)
    g = {f: global_int(c, f) for f in kInfoGlobals}
    chk.ok(all(v is not None for v in g.values()), "INFO globals present", g)
    w0 = int(pol.get("user:", {}).get("writes", -1))
    b0 = int(pol.get("chat:", {}).get("wb_rows", -1))
    for i in range(5):
        c.call("SET", f"user:m{i}", "x")
        c.call("SET", f"chat:m{i}", "x")
    flush_behind(c)
    pol = info_policies(c)
    w1 = int(pol.get("user:", {}).get("writes", -1))
    b1 = int(pol.get("chat:", {}).get("wb_rows", -1))
    chk.ok(w0 >= 0 and w1 >= w0 + 5, "INFO writes moves", f"{w0} -> {w1}")
    chk.ok(b0 >= 0 and b1 >= b0 + 5, "INFO wb_rows moves", f"{b0} -> {b1}")
    chk.ok(int(pol.get("chat:", {}).get("wb_batches", 0)) >= 1, "INFO wb_batches moves",
           pol.get("chat:"))
    chk.eq(pol.get("chat:", {}).get("strategy"), "write-behind", "INFO names the strategy")


def reload_with_pending(chk, c, pg, srv):
    """Acknowledged write-behind writes stay owed after their policy changes: a RELOAD that
    drops the prefix, and a POLICY SET that turns it into write-through, must not lose them."""
    for prefix, change in (("rl:", "reload"), ("ps:", "policy set")):
        text = base_config(pg, policies() + [
            policy_block(prefix, "write-behind", flush_interval_ms=60000)])
        srv.write(text)
        chk.eq(c.call("STRATA", "RELOAD"), kOk, f"{change}: RELOAD adds {prefix}")
        acks = [c.call("SET", f"{prefix}{i}", f"p{i}") for i in range(10)]
        chk.ok(all(a == kOk for a in acks), f"{change}: write-behind SETs acked", acks[:2])
        chk.eq(pg_value(pg, f"{prefix}0"), None, f"{change}: pending (flush interval 60 s)")
        if change == "reload":
            srv.write(base_config(pg, policies()))
            chk.eq(c.call("STRATA", "RELOAD"), kOk, "RELOAD dropping the prefix")
        else:
            chk.eq(c.call("STRATA", "POLICY", "SET", prefix, "strategy", "write-through"), kOk,
                   "POLICY SET write-behind -> write-through")
        chk.eq(flush_behind(c), kOk, f"{change}: FLUSH-BEHIND")
        got = [pg_value(pg, f"{prefix}{i}") for i in range(10)]
        chk.eq(got, [f"p{i}".encode() for i in range(10)],
               f"{change}: writes acked under the old policy reach PG")
    srv.write(base_config(pg, policies()))
    c.call("STRATA", "RELOAD")


def drain_config(pg):
    return base_config(pg, [policy_block("sd:", "write-behind", flush_interval_ms=60000)],
                       shutdown_drain_ms=1500)


def shutdown_drain(chk, pg, redis):
    srv = harness.start_strata_config(drain_config(pg), upstream=redis, tag="strata-shutdown")
    c = Conn(srv.port)
    for i in range(20):
        c.call("SET", f"sd:{i}", f"v{i}")
    chk.eq(pg_value(pg, "sd:0"), None, "before SHUTDOWN: nothing flushed")
    reply = c.call("SHUTDOWN")
    chk.ok(reply == b"" or reply.startswith(b"<") or reply == kOk, "SHUTDOWN closes", reply)
    try:
        code = srv.proc.wait(timeout=10)
    except Exception:
        code = None
    chk.eq(code, 0, "SHUTDOWN: exit 0")
    chk.eq([pg_value(pg, f"sd:{i}") for i in (0, 19)], [b"v0", b"v19"], "SHUTDOWN drained to PG")
    log = srv.log_tail(50).lower()
    chk.ok("journal" in log or "drain" in log, "SHUTDOWN logs the drain", log[-400:])
    # SIGTERM with PostgreSQL away: the deadline passes, the log says what stays in the
    # journal, and a restart replays it.
    harness.restart_now(srv.srv)
    c = Conn(srv.port)
    for i in range(20):
        c.call("SET", f"sd:t{i}", f"w{i}")
    pg.stop("fast")
    t0 = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        code = srv.proc.wait(timeout=15)
    except Exception:
        code = None
    took = time.monotonic() - t0
    chk.ok(code is not None and took < 1.5 + 5, "SIGTERM: exits within the drain deadline",
           f"exit {code} after {took:.1f}s")
    log = srv.log_tail(50)
    chk.ok("20" in log and "journal" in log.lower(), "SIGTERM: says what stays in the journal",
           log[-600:])
    pg.start()
    harness.restart_now(srv.srv)
    c = Conn(srv.port)
    chk.eq(flush_behind(c), kOk, "restart: FLUSH-BEHIND after replay")
    got = [pg_value(pg, f"sd:t{i}") for i in range(20)]
    chk.eq(got, [f"w{i}".encode() for i in range(20)], "restart replayed the journal into PG")
    c.close()
    srv.stop()


def main():
    pg = harness.start_postgres("pg-admin")
    pg.sql(kSchema)
    redis = harness.start_redis("redis-admin")
    srv = harness.start_strata_config(base_config(pg, policies()), upstream=redis,
                                      tag="strata-admin")
    chk = harness.Checks()
    c = Conn(srv.port)
    run_phases(chk, [
        (policy_get_list, (chk, c, pg)),
        (policy_set, (chk, c, pg)),
        (reload_cmd, (chk, c, pg, srv)),
        (sighup, (chk, c, pg, srv)),
        (info_section, (chk, c, pg)),
        (reload_with_pending, (chk, c, pg, srv)),
        (shutdown_drain, (chk, pg, redis)),
    ])
    c.close()
    return finish(chk, [srv])


if __name__ == "__main__":
    sys.exit(main())
