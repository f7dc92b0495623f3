#!/usr/bin/env python3
"""Coherence across strata instances over NATS: two instances in front of one redis-server and
one PostgreSQL, a real nats-server between them.
- invalidate (the default with [nats]): a write through A drops the key from B's L1, so B's
  next read returns the new value; with sync = "off" B keeps serving its stale copy (the
  control: the same steps, the opposite outcome);
- update: A's write installs the value in B's L1 without a PostgreSQL read (counted);
- loss: nats-server killed mid-run: both instances stop trusting L1 for synced prefixes after
  max_staleness_ms (reads go to PostgreSQL) and refuse writes to them (a write no peer could
  hear of would break the bound), and come back, dropping what they may have missed, once NATS
  is back;
- an instance killed with kill -9 and restarted: its peer notices the new epoch;
- malformed messages on strata's subjects are counted and refused, nothing else changes; a
  message of a newer format is counted apart."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import harness_nats  # noqa: E402
from harness_nats import sync_fields, sync_int  # noqa: E402,F401
import harness_pg  # noqa: E402
from policy_util import base_config, bulk, finish, policy_block, policy_counter  # noqa: E402

kStalenessMs = 400
kSeenWithinS = 2.0  # a change through A is seen through B within this (normally ~1 ms)


def nats_table(nats, instance):
    return (f'[nats]\nurl = "{harness_nats.url(nats)}"\ninstance = "{instance}"\n'
            f"heartbeat_ms = 50\nmax_staleness_ms = {kStalenessMs}\nreconnect_wait_ms = 100\n\n")


def config(pg, nats, instance):
    return nats_table(nats, instance) + base_config(pg, [
        policy_block("wt:", "write-through", l2=False),
        policy_block("up:", "write-through", l2=False, sync="update"),
        policy_block("off:", "write-through", l2=False, sync="off"),
        policy_block("c:", "cache"),
    ], journal_dir=f"journal-{instance}")


def get(c, key):
    return c.call("GET", key)


def seen(c, key, want, timeout=kSeenWithinS):
    return harness.wait_for(lambda: get(c, key) == want, timeout=timeout)


def coherence(chk, a, b, pg):
    for prefix in ("wt:", "c:"):
        k = prefix + "k"
        chk.eq(a.call("SET", k, "v1"), b"+OK\r\n", f"{prefix} SET through A")
        chk.eq(get(b, k), bulk("v1"), f"{prefix} B reads v1 (now in B's L1)")
        chk.eq(a.call("SET", k, "v2"), b"+OK\r\n", f"{prefix} SET v2 through A")
        chk.ok(seen(b, k, bulk("v2")), f"{prefix} B sees v2 after A's write", get(b, k))
    # The control: sync off keeps B's stale copy (the test above could fail).
    chk.eq(a.call("SET", "off:k", "v1"), b"+OK\r\n", "off: SET through A")
    chk.eq(get(b, "off:k"), bulk("v1"), "off: B reads v1")
    a.call("SET", "off:k", "v2")
    time.sleep(0.3)
    chk.eq(get(b, "off:k"), bulk("v1"), "off: B keeps its stale v1 (no sync)")
    # DEL through A is heard too.
    a.call("DEL", "wt:k")
    chk.ok(seen(b, "wt:k", b"$-1\r\n"), "wt: B sees A's DEL", get(b, "wt:k"))


def update_mode(chk, a, b):
    pg_hits = policy_counter(b, "up:", "pg_hits")
    installed = sync_int(b, "sync_installed_values")
    a.call("SET", "up:fresh", "pushed")
    chk.ok(harness.wait_for(lambda: sync_int(b, "sync_installed_values") > installed, timeout=2),
           "update: B installed A's value", sync_fields(b))
    chk.eq(get(b, "up:fresh"), bulk("pushed"), "update: B serves it")
    chk.eq(policy_counter(b, "up:", "pg_hits"), pg_hits, "update: without a PostgreSQL read")
    # A key B holds is dropped instead (L1 keeps no version to compare): the next read is fresh.
    chk.eq(get(b, "up:fresh"), bulk("pushed"), "update: B holds up:fresh")
    a.call("SET", "up:fresh", "newer")
    chk.ok(seen(b, "up:fresh", bulk("newer")), "update: B serves the newer value",
           get(b, "up:fresh"))


def nats_killed(chk, a, b, nats):
    a.call("SET", "wt:n", "before")
    chk.eq(get(b, "wt:n"), bulk("before"), "nats down: B holds wt:n")
    nats.kill()
    chk.ok(harness.wait_for(lambda: sync_int(b, "sync_degraded") == 1, timeout=5),
           "nats down: B stops trusting L1 for synced prefixes", sync_fields(b))
    chk.ok(harness.wait_for(lambda: sync_int(a, "sync_degraded") == 1, timeout=5),
           "nats down: A stops trusting L1 too", sync_fields(a))
    r = a.call("SET", "wt:n", "during")
    chk.ok(r.startswith(b"-ERR") and b"sync bus" in r,
           "nats down: A refuses writes to synced prefixes (fail closed)", r)
    chk.eq(get(b, "wt:n"), bulk("before"), "nats down: B reads through to PostgreSQL")
    chk.ok(sync_int(b, "sync_degraded_episodes") >= 1, "nats down: counted", sync_fields(b))
    harness.restart_server(nats)
    chk.ok(harness.wait_for(lambda: sync_int(b, "sync_connected") == 1 and
                            sync_int(a, "sync_connected") == 1, timeout=10),
           "nats back: both reconnected", (sync_fields(a), sync_fields(b)))
    chk.ok(sync_int(b, "sync_degraded") == 0, "nats back: L1 trusted again", sync_fields(b))
    chk.ok(sync_int(b, "sync_reconnects") >= 1, "nats back: reconnect counted", sync_fields(b))
    chk.eq(get(b, "wt:n"), bulk("before"), "nats back: B holds wt:n")
    a.call("SET", "wt:n", "after")
    chk.ok(seen(b, "wt:n", bulk("after")), "nats back: B sees A's write again", get(b, "wt:n"))


def malformed(chk, b, nats):
    before = sync_int(b, "sync_malformed")
    newer = sync_int(b, "sync_unknown_format")
    raw = harness_nats.RawNats(nats.port)
    for payload in (b"hello", b"SY\x09\x01" + b"\x00" * 40, b"SY\x01\x01" + b"\xff" * 60):
        raw.pub("strata.ev.3", payload)
    raw.close()
    chk.ok(harness.wait_for(lambda: sync_int(b, "sync_malformed") >= before + 2, timeout=3),
           "malformed: counted and refused", sync_fields(b))
    # A format this build does not read is not malformed: a newer peer's, refused and counted
    # (its partition dropped: see protocol/sync_event.h, "Versions").
    chk.ok(harness.wait_for(lambda: sync_int(b, "sync_unknown_format") == newer + 1, timeout=3),
           "malformed: a newer format counted apart", sync_fields(b))
    chk.eq(b.call("PING"), b"+PONG\r\n", "malformed: strata stays up")


def restarted_peer(chk, a, b):
    epochs = sync_int(b, "sync_new_epochs")
    silences = sync_int(b, "sync_silences")
    a.srv.kill()
    harness.restart_now(a.srv)
    a2 = harness.Conn(a.port)
    chk.ok(harness.wait_for(lambda: sync_int(a2, "sync_connected") == 1, timeout=10),
           "kill -9: A back on the bus", sync_fields(a2))
    a2.call("SET", "wt:r", "x")
    chk.ok(harness.wait_for(lambda: sync_int(b, "sync_new_epochs") > epochs or
                            sync_int(b, "sync_silences") > silences, timeout=5),
           "kill -9: B noticed (silence or a new epoch)", sync_fields(b))
    chk.ok(seen(b, "wt:r", bulk("x")), "kill -9: B sees A's writes again", get(b, "wt:r"))
    return a2


def main():
    chk = harness.Checks()
    if harness.fake_run():
        return 0
    pg = harness_pg.start_postgres("pg-sync")
    nats = harness_nats.start_nats("nats-sync")
    redis = harness.start_redis("redis-sync")
    sa, sb, a, b = harness_nats.start_pair(config, pg, nats, redis)
    steps = [lambda: coherence(chk, a, b, pg), lambda: update_mode(chk, a, b),
             lambda: nats_killed(chk, a, b, nats), lambda: malformed(chk, b, nats),
             lambda: restarted_peer(chk, sa, b)]
    for step in steps:
        try:
            step()
        except Exception as e:  # report and go on
            chk.ok(False, "step", f"{type(e).__name__}: {e}")
    return finish(chk, [sa, sb, nats, redis])


if __name__ == "__main__":
    sys.exit(main())
