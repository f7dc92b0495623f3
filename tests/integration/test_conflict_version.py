#!/usr/bin/env python3
"""conflict = "version": compare-and-set decided by PostgreSQL's row version, across instances.
- 32 clients on 4 strata instances (one redis-server, one PostgreSQL, a NATS bus) increment 20
  hot keys by read (STRATA VERSION: [version, value] from PostgreSQL) - modify - STRATA CAS;
  a CONFLICT means retry. At the end every key's value equals the number of CAS replies that
  succeeded on it: no update was lost, none was applied twice. GET through every instance
  returns that final value (the tiers followed the successful CASes).
- plain SET on the prefix is refused with a message naming STRATA CAS; CAS with expected 0
  creates, a wrong version answers CONFLICT with the current one; a version prefix under
  write-behind is refused at start."""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import harness_nats  # noqa: E402
import harness_pg  # noqa: E402
from policy_util import base_config, bulk, finish, policy_block  # noqa: E402

kInstances = 4
kClients = 32
kKeys = 20
kSeconds = 6.0


def config(pg, nats, name):
    return (f'[nats]\nurl = "{harness_nats.url(nats)}"\ninstance = "{name}"\n\n' +
            base_config(pg, [policy_block("cnt:", "write-through", conflict="version",
                                          sync="invalidate")], journal_dir=f"journal-{name}"))


def parse(raw):
    return harness.parse(raw)


def basics(chk, c):
    r = c.call("SET", "cnt:x", "1")
    chk.ok(r.startswith(b"-ERR") and b"STRATA CAS" in r, "plain SET refused", r)
    chk.eq(parse(c.call("STRATA", "VERSION", "cnt:new")), [0, None], "absent: [0, nil]")
    v1 = parse(c.call("STRATA", "CAS", "cnt:new", "0", "a"))
    chk.ok(isinstance(v1, int) and v1 > 0, "CAS 0 creates, answers the version", v1)
    chk.eq(parse(c.call("STRATA", "VERSION", "cnt:new")), [v1, b"a"], "VERSION after CAS")
    r = c.call("STRATA", "CAS", "cnt:new", "0", "b")
    chk.ok(r.startswith(b"-CONFLICT") and str(v1).encode() in r, "CAS 0 on a live key: CONFLICT",
           r)
    r = c.call("STRATA", "CAS", "cnt:new", str(v1 - 1), "b")
    chk.ok(r.startswith(b"-CONFLICT"), "CAS at a wrong version: CONFLICT", r)
    v2 = parse(c.call("STRATA", "CAS", "cnt:new", str(v1), "b"))
    chk.ok(isinstance(v2, int) and v2 > v1, "CAS at the current version succeeds", v2)
    chk.eq(c.call("GET", "cnt:new"), bulk("b"), "GET follows the CAS")


def hammer(ports, results, errors, seed, stop):
    rng = random.Random(seed)
    conn = harness.Conn(rng.choice(ports), timeout=10)
    while not stop.is_set():
        key = f"cnt:h{rng.randrange(kKeys)}"
        cur = parse(conn.call("STRATA", "VERSION", key))
        if not isinstance(cur, list):
            errors.append(cur)
            continue
        version, value = cur
        n = int(value) if value is not None else 0
        r = conn.call("STRATA", "CAS", key, str(version), str(n + 1))
        if r.startswith(b":"):
            results[key] = results.get(key, 0) + 1
        elif not r.startswith(b"-CONFLICT"):
            errors.append(r)
    conn.close()


def main():
    chk = harness.Checks()
    if harness.fake_run():
        return 0
    pg, nats, redis, servers = harness_nats.start_cluster("cas", kInstances, config)
    code, out, _ = harness_pg.run_strata_once(
        base_config(pg, [policy_block("w:", "write-behind", conflict="version")]))
    chk.ok(code not in (None, 0) and "conflict 'version' needs" in out,
           "conflict = version under write-behind refused", out[-400:])
    ports = [s.port for s in servers]
    basics(chk, harness.Conn(ports[0]))
    per_thread = [dict() for _ in range(kClients)]
    errors = []
    harness.run_threads_for(kSeconds, [(hammer, (ports, per_thread[i], errors, i))
                                       for i in range(kClients)])
    chk.eq(errors[:3], [], "no reply other than a version or CONFLICT")
    successes = {}
    for d in per_thread:
        for k, n in d.items():
            successes[k] = successes.get(k, 0) + n
    total = sum(successes.values())
    chk.ok(total >= 100, "enough successful CASes to mean something", total)
    for i in range(kKeys):
        key = f"cnt:h{i}"
        want = successes.get(key, 0)
        row = pg.rows(f"SELECT convert_from(value, 'UTF8') FROM strata_kv WHERE key = '{key}'")
        got = int(row[0][0]) if row else 0
        chk.eq(got, want, f"{key}: PostgreSQL value = successful CAS replies")
        for p in ports:
            r = harness.wait_for(lambda p=p: harness.Conn(p).call("GET", key) ==
                                 (bulk(str(want)) if want else b"$-1\r\n"), timeout=3)
            chk.ok(r, f"{key}: GET through :{p} returns the final value")
    print(f"{total} successful CAS over {kKeys} keys from {kClients} clients on {kInstances} "
          "instances")
    return finish(chk, servers + [nats, redis])


if __name__ == "__main__":
    sys.exit(main())
