#!/usr/bin/env python3
"""PostgreSQL's change feed (logical replication): changes made directly in SQL reach every
strata instance's cache. Two instances in front of one redis-server, one PostgreSQL started with
wal_level=logical, a real nats-server between them; psql makes the changes.

Phases:
- direct: UPDATE, DELETE, INSERT ... ON CONFLICT and TRUNCATE made in psql on mapped tables
  (strata_kv and a table of its own) are seen through GET on both instances within the lag
  bound, for an L1+L2 prefix, an L1-only one and a sync = "update" one (installed, counted);
- txn: a multi-row transaction is applied as one, in commit order; a rolled-back one changes
  nothing (no transaction, no change counted);
- own writes: strata's own writes come back through the feed and are recognized (counted in
  own_writes_skipped, nothing invalidated);
- takeover: kill -9 of the reading instance; the other takes over within the bound and no
  change committed meanwhile is missed;
- pg restart: PostgreSQL restarted; the feed resumes and changes after it are seen;
- slot dropped by hand: the slot is recreated, every mapped prefix is dropped from the caches,
  and it is counted (never silently);
- stale reads: changefeed_checker.py for kCheckerSeconds on the same servers -- writers
  changing strata_kv in SQL, readers on A and B -- no read staler than its bound after the
  commit, with enough changes and reads checked (STRATA_CF_CHECK_SECONDS overrides)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import changefeed_checker  # noqa: E402
import harness  # noqa: E402
import harness_nats  # noqa: E402
import harness_pg  # noqa: E402
from policy_util import bulk, finish, policy_block, q, run_phases  # noqa: E402

kSeenS = 3.0  # a committed change is seen through GET within this (p99 is a few ms)
kSlot = "strata_cf_test"
kCheckerSeconds = float(os.environ.get("STRATA_CF_CHECK_SECONDS", "15"))

kItemsSchema = """
CREATE TABLE IF NOT EXISTS items(id text PRIMARY KEY, body text, ver bigint);
CREATE TABLE IF NOT EXISTS strata_kv(key text PRIMARY KEY, value bytea, version bigint,
                                     updated_at timestamptz);
"""


kWsPorts = {}  # instance -> its WebSocket port (cf: readable without a token)


def config(pg, nats, instance):
    """The checker's (cf: L1+L2, cn: L1 only, cu: sync = "update") plus items' it:, and a
    WebSocket listener."""
    kWsPorts.setdefault(instance, harness.free_port())
    ws = (f'[websocket]\nport = {kWsPorts[instance]}\nsecret = "cf-secret"\n'
          'public_read = "cf:"\n\n')
    return ws + changefeed_checker.config(pg, nats, instance, slot=kSlot, extra_policies=[
        policy_block("it:", "write-through", table="items", key_column="id",
                     value_column="body", version_column="ver")])


def info(c):
    out = {}
    raw = c.call("INFO", "changefeed")
    for line in raw.split(b"\r\n"):
        if b":" in line and not line.startswith(b"#") and not line.startswith(b"$") and \
                not line.startswith(b"="):
            k, v = line.split(b":", 1)
            out[k.decode().lstrip("txt:")] = v.decode()
    return out


def num(c, name):
    v = info(c).get(name, "0")
    try:
        return int(v)
    except ValueError:
        return 0


def seen(conns, key, want, timeout=kSeenS):
    return all(harness.wait_for(lambda c=c: c.call("GET", key) == want, timeout=timeout)
               for c in conns)


def reader_of(pair):
    """The connection whose instance reads the slot, once one does."""
    found = []

    def one():
        found[:] = [c for c in pair if info(c).get("changefeed_reader") == "1" and
                    info(c).get("changefeed_state") == "reading"]
        return len(found) == 1
    harness.wait_for(one, timeout=15)
    return found[0] if found else None


def warm(conns, key, value):
    """Writes through strata and reads on every instance: every tier holds the value."""
    conns[0].call("SET", key, value)
    for c in conns:
        c.call("GET", key)


def direct(chk, pg, a, b):
    conns = (a, b)
    for prefix in ("cf:", "cn:", "cu:"):
        k = prefix + "u"
        warm(conns, k, "old")
        chk.eq(b.call("GET", k), bulk("old"), f"{prefix} B holds old")
        pg.sql(f"UPDATE strata_kv SET value = 'new-{prefix}' WHERE key = {q(k)}")
        chk.ok(seen(conns, k, bulk(f"new-{prefix}")), f"{prefix} UPDATE in psql seen on A and B",
               f"A={a.call('GET', k)} B={b.call('GET', k)}")
        kd = prefix + "d"
        warm(conns, kd, "doomed")
        pg.sql(f"DELETE FROM strata_kv WHERE key = {q(kd)}")
        chk.ok(seen(conns, kd, b"$-1\r\n"), f"{prefix} DELETE in psql seen on A and B",
               f"A={a.call('GET', kd)} B={b.call('GET', kd)}")
        ki = prefix + "i"
        warm(conns, ki, "before")
        pg.sql(f"INSERT INTO strata_kv(key, value, version) VALUES ({q(ki)}, 'upserted', 1) "
               "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
        chk.ok(seen(conns, ki, bulk("upserted")), f"{prefix} INSERT ON CONFLICT seen on A and B",
               f"A={a.call('GET', ki)} B={b.call('GET', ki)}")
        # A key nobody cached before: an INSERT reads through on the first GET anyway, and a
        # cached miss (absent) must not hide it.
        kn = prefix + "new"
        chk.eq(a.call("GET", kn), b"$-1\r\n", f"{prefix} absent first")
        pg.sql(f"INSERT INTO strata_kv(key, value, version) VALUES ({q(kn)}, 'born', 1)")
        chk.ok(seen(conns, kn, bulk("born")), f"{prefix} INSERT seen")
    # (a GET may see a change before the feed applies it: an uncached key reads PostgreSQL)
    def updated():
        return num(a, "changefeed_keys_updated") + num(b, "changefeed_keys_updated")
    # u and i: cached before, so installed. ("new" was read through before the feed came: the
    # cache held the row already, which the feed counts with strata's own writes.)
    harness.wait_for(lambda: updated() >= 2, timeout=kSeenS)
    chk.ok(updated() >= 2, "sync=update prefix: the row's value installed (counted)",
           f"{updated()} A={info(a)} B={info(b)}")
    # A table of its own (items: id, body, ver), and TRUNCATE.
    for i in range(3):
        warm(conns, f"it:{i}", f"row{i}")
    pg.sql("UPDATE items SET body = 'edited' WHERE id = 'it:1'")
    chk.ok(seen(conns, "it:1", bulk("edited")), "items: UPDATE seen")
    truncs = num(a, "changefeed_truncates") + num(b, "changefeed_truncates")
    pg.sql("TRUNCATE items")
    chk.ok(all(seen(conns, f"it:{i}", b"$-1\r\n") for i in range(3)),
           "items: TRUNCATE drops the prefix on A and B")
    chk.ok(num(a, "changefeed_truncates") + num(b, "changefeed_truncates") > truncs,
           "TRUNCATE counted")
    # The feed counts per table.
    tables = info(a).get("changefeed_tables", "") + info(b).get("changefeed_tables", "")
    chk.ok("strata_kv=" in tables and "items=" in tables, "changes counted per table", tables)


def txn(chk, pg, a, b):
    conns = (a, b)
    for k in ("cf:t1", "cf:t2", "cf:t3"):
        warm(conns, k, "v0")
    pg.sql("BEGIN; UPDATE strata_kv SET value = 'v1' WHERE key = 'cf:t1'; "
           "UPDATE strata_kv SET value = 'v1' WHERE key = 'cf:t2'; "
           "UPDATE strata_kv SET value = 'v2' WHERE key = 'cf:t1'; "
           "DELETE FROM strata_kv WHERE key = 'cf:t3'; COMMIT;")
    chk.ok(seen(conns, "cf:t1", bulk("v2")), "txn: the last change of a key in it wins")
    chk.ok(seen(conns, "cf:t2", bulk("v1")), "txn: its other rows applied")
    chk.ok(seen(conns, "cf:t3", b"$-1\r\n"), "txn: its delete applied")
    r = reader_of(conns)
    before_tx = num(r, "changefeed_transactions")
    before_ch = num(r, "changefeed_changes")
    pg.sql("BEGIN; UPDATE strata_kv SET value = 'never' WHERE key = 'cf:t2'; ROLLBACK;")
    # A later committed change proves the feed went past the rolled-back one.
    pg.sql("UPDATE strata_kv SET value = 'marker' WHERE key = 'cf:t1'")
    chk.ok(seen(conns, "cf:t1", bulk("marker")), "txn: marker after the rollback seen")
    chk.eq(a.call("GET", "cf:t2"), bulk("v1"), "rollback: A unchanged")
    chk.eq(b.call("GET", "cf:t2"), bulk("v1"), "rollback: B unchanged")
    chk.eq(num(r, "changefeed_transactions") - before_tx, 1, "rollback: no transaction applied")
    chk.eq(num(r, "changefeed_changes") - before_ch, 1, "rollback: no change decoded")


def own_writes(chk, pg, a, b):
    r = reader_of((a, b))
    skipped = num(r, "changefeed_own_writes_skipped")
    inval = num(r, "changefeed_keys_invalidated")
    n = 50
    for i in range(n):
        a.call("SET", f"cf:own{i}", f"mine{i}")
    harness.wait_for(lambda: num(r, "changefeed_own_writes_skipped") - skipped >= n, timeout=5)
    got = num(r, "changefeed_own_writes_skipped") - skipped
    chk.eq(got, n, "strata's own writes recognized by version (own_writes_skipped)")
    chk.eq(num(r, "changefeed_keys_invalidated") - inval, 0, "... and invalidate nothing")
    chk.eq(b.call("GET", "cf:own7"), bulk("mine7"), "own writes still read back")


def takeover(chk, pg, sa, sb, conns, nats):
    a, b = conns
    r = reader_of((a, b))
    dead, live = (sa, sb) if r is a else (sb, sa)
    live_c = b if r is a else a
    takeovers = num(live_c, "changefeed_takeovers")
    warm((live_c,), "cf:tk", "before")
    dead.kill()
    t0 = time.monotonic()
    # Changes committed while nobody reads: none may be missed.
    for i in range(20):
        pg.sql(f"INSERT INTO strata_kv(key, value, version) VALUES ('cf:tk{i}', 'x{i}', 1) "
               "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
        live_c.call("GET", f"cf:tk{i}")  # cached now, maybe with the old absent/value
    pg.sql("UPDATE strata_kv SET value = 'during' WHERE key = 'cf:tk'")
    ok = harness.wait_for(lambda: info(live_c).get("changefeed_state") == "reading", timeout=10)
    chk.ok(ok, "takeover: the other instance reads the slot", str(info(live_c)))
    chk.ok(time.monotonic() - t0 < 5, f"takeover within 5 s ({time.monotonic() - t0:.2f} s)")
    chk.eq(num(live_c, "changefeed_takeovers"), takeovers + 1, "takeover counted")
    chk.ok(seen((live_c,), "cf:tk", bulk("during")), "takeover: change made meanwhile seen")
    for i in range(20):
        pg.sql(f"UPDATE strata_kv SET value = 'y{i}' WHERE key = 'cf:tk{i}'")
    chk.ok(all(seen((live_c,), f"cf:tk{i}", bulk(f"y{i}")) for i in range(20)),
           "takeover: later changes seen")
    dead.start()
    dead_c = harness.Conn(dead.port)
    harness.wait_for(lambda: harness_nats.sync_int(dead_c, "sync_connected") == 1, timeout=10)
    harness.wait_for(lambda: info(dead_c).get("changefeed_state") == "standby", timeout=10)
    chk.eq(info(dead_c).get("changefeed_state"), "standby", "the restarted instance stands by")
    return (dead_c, live_c) if r is a else (live_c, dead_c)


def pg_restart(chk, pg, a, b):
    warm((a, b), "cf:pr", "before")
    pg.stop("fast")
    time.sleep(0.5)
    pg.start()
    reader_of((a, b))
    pg.sql("UPDATE strata_kv SET value = 'after' WHERE key = 'cf:pr'")
    chk.ok(seen((a, b), "cf:pr", bulk("after"), timeout=10),
           "pg restart: a change after it is seen", f"{a.call('GET', 'cf:pr')}")


def slot_dropped(chk, pg, a, b):
    r = reader_of((a, b))
    rec = num(r, "changefeed_slot_recreations")
    warm((a, b), "cf:sd", "cached")
    # The walsender holds the slot: end it and drop the slot before the reader comes back.
    pg.sql(f"DO $$ BEGIN FOR i IN 1..200 LOOP "
           f"PERFORM pg_terminate_backend(active_pid) FROM pg_replication_slots "
           f"WHERE slot_name = '{kSlot}' AND active_pid IS NOT NULL; "
           f"BEGIN PERFORM pg_drop_replication_slot('{kSlot}'); RETURN; "
           f"EXCEPTION WHEN OTHERS THEN PERFORM pg_sleep(0.01); END; END LOOP; END $$")
    # Changed while no slot existed: nobody can know, so the prefix must be dropped.
    pg.sql("UPDATE strata_kv SET value = 'unseen' WHERE key = 'cf:sd'")
    ok = harness.wait_for(lambda: any(num(c, "changefeed_slot_recreations") > rec
                                      for c in (a, b)), timeout=10)
    chk.ok(ok, "slot dropped: recreated and counted")
    chk.ok(seen((a, b), "cf:sd", bulk("unseen")), "slot dropped: the prefix was dropped")
    drops = sum(num(c, "changefeed_prefix_drops") for c in (a, b))
    chk.ok(drops > 0, "prefix drops counted", str(drops))


def stale_reads(chk, pg, a, b):
    res = changefeed_checker.run(kCheckerSeconds, pg=pg, ports={"A": a.port, "B": b.port})
    changefeed_checker.report(res)
    chk.eq(res["stale"], 0, f"no read staler than {res['bound_ms']} ms after the commit")
    chk.eq(res["unknown"], 0, "every value read was committed")
    chk.ok(res["ok"], "the checker passes (enough changes, reads and L1 hits; no failure)",
           res["problems"])


def subscribers(chk, pg, a, b, ws_port):
    """A WebSocket subscriber (on B, the instance that may not read the feed) and a RESP3
    CLIENT TRACKING client hear a change made in psql."""
    import ws_raw
    sub, _ = ws_raw.open_ws(ws_port)
    sub.send({"t": "sub", "id": 1, "key": "cf:live"})
    warm((a, b), "cf:live", "v0")
    got = sub.recv_until(lambda m: m.get("t") == "subscribed" and m.get("id") == 1, 5)
    chk.ok(bool(got), "ws: subscribed on B")
    sub.drain(0.3)
    tracker = harness.Conn(b.port)
    tracker.call("HELLO", "3")
    tracker.call("CLIENT", "TRACKING", "ON")
    chk.eq(tracker.call("GET", "cf:live"), bulk("v0"), "tracking: read (now tracked)")
    pg.sql("UPDATE strata_kv SET value = 'from-sql' WHERE key = 'cf:live'")
    try:
        msgs = sub.recv_until(lambda m: m.get("t") == "c" and m.get("k") == "cf:live" and
                              m.get("v") == "from-sql", 5)
        chk.ok(bool(msgs), "ws: the subscriber on B hears the psql change with its value")
    except Exception as e:  # noqa: BLE001 (reported as a failed check)
        chk.ok(False, "ws: the subscriber on B hears the psql change", repr(e))
    tracker.settimeout(5)
    push = tracker.read()
    chk.ok(b"invalidate" in push and b"cf:live" in push,
           "tracking: an invalidation push for the psql change", push)
    chk.eq(tracker.call("GET", "cf:live"), bulk("from-sql"), "tracking: the next read is fresh")
    sub.close()
    tracker.close()


def main():
    chk = harness.Checks()
    if harness.fake_run():
        return 0
    pg = harness_pg.start_postgres("pg-cf", settings=("synchronous_commit=on",))
    pg.sql(kItemsSchema)
    nats = harness_nats.start_nats("nats-cf")
    redis = harness.start_redis("redis-cf")
    sa, sb, a, b = harness_nats.start_pair(config, pg, nats, redis)
    chk.ok(reader_of((a, b)) is not None, "one instance reads the slot",
           f"A={info(a)} B={info(b)}")
    readers = sum(info(c).get("changefeed_reader") == "1" for c in (a, b))
    chk.eq(readers, 1, "exactly one reader")
    run_phases(chk, [(direct, (chk, pg, a, b)), (txn, (chk, pg, a, b)),
                     (own_writes, (chk, pg, a, b)),
                     (subscribers, (chk, pg, a, b, kWsPorts["B"]))])
    conns = [a, b]

    def do_takeover():
        conns[:] = takeover(chk, pg, sa, sb, conns, nats)
    run_phases(chk, [(do_takeover, ())])
    run_phases(chk, [(pg_restart, (chk, pg, conns[0], conns[1])),
                     (slot_dropped, (chk, pg, conns[0], conns[1])),
                     (stale_reads, (chk, pg, conns[0], conns[1]))])
    return finish(chk, [sa, sb, nats, redis, pg])


if __name__ == "__main__":
    sys.exit(main())
