#!/usr/bin/env python3
"""One client identity through strata (a real redis-server, strata with 2 workers): CLIENT ID is
strata's, and so are CLIENT LIST, INFO, KILL (every filter, the old form) and UNBLOCK, over the
clients of every worker; none of them reaches strata's own upstream connections.

- CLIENT LIST shows every client of strata (ids as their CLIENT ID says), in Redis 7.0's format
  (the same fields in the same order as redis-server's line);
- CLIENT KILL ID kills a client of either worker (reply 1, the client is disconnected), ADDR and
  the old form too, SKIPME yes/no, TYPE, LADDR, USER, MAXAGE;
- CLIENT KILL ID of one of strata's upstream connections (ids from Redis's own CLIENT LIST) or of
  no client answers 0 and strata's upstream stays up (INFO upstream_up 1, no lost connection in
  its log);
- CLIENT UNBLOCK of a client blocked in BLPOP through strata wakes it with Redis's reply
  (TIMEOUT: a nil; ERROR: -UNBLOCKED ...);
- CLIENT PAUSE/UNPAUSE reach Redis; NO-EVICT, GETREDIR are strata's;
- error replies are byte-identical to redis-server's for the same lines.
Every socket read has a timeout: a hang is a failure."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import phases  # noqa: E402

kClients = 10  # spread over both workers (SO_REUSEPORT): killed from one client


def list_lines(c):
    text = harness.parse(c.call("CLIENT", "LIST"))
    return [line for line in text.decode().split("\n") if line]


def fields(line):
    return dict(f.split("=", 1) for f in line.split(" "))


def field_names(line):
    return [f.split("=", 1)[0] for f in line.split(" ")]


def info_field(c, name):
    text = harness.parse(c.call("INFO", "all"))
    for line in text.splitlines():
        if line.startswith(name.encode() + b":"):
            return line.split(b":", 1)[1].decode()
    return None


def local_addr(client):
    host, port = client.sock.getsockname()[:2]
    return f"{host}:{port}"


def upstream_lost(strata):
    with open(strata.log_path, "rb") as f:
        text = f.read()
    return any(m in text for m in (b"unavailable", b"connection lost", b"reply timeout"))


def list_and_kill(chk, strata, redis):
    killer = harness.Client(strata.port)
    my_id = int(harness.parse(killer.call("CLIENT", "ID")))
    victims = [harness.Client(strata.port) for _ in range(kClients)]
    ids = [int(harness.parse(v.call("CLIENT", "ID"))) for v in victims]
    for v in victims:
        v.call("GET", "some:key")
    lines = list_lines(killer)
    by_id = {int(fields(l)["id"]): fields(l) for l in lines}
    chk.ok(all(i in by_id for i in ids + [my_id]), "CLIENT LIST shows every client of strata",
           f"ids {ids + [my_id]}, listed {sorted(by_id)}")
    chk.eq(sorted(by_id), [int(fields(l)["id"]) for l in lines], "CLIENT LIST is in id order")
    chk.eq(by_id[my_id]["cmd"], "client|list", "the caller's cmd= is client|list")
    chk.eq(by_id[ids[0]]["cmd"], "get", "another client's cmd= is its last command")
    chk.eq(by_id[ids[0]]["addr"], local_addr(victims[0]), "addr= is the client's address")
    direct = harness.Client(redis.port)
    redis_line = harness.parse(direct.call("CLIENT", "INFO")).decode().strip()
    chk.eq(field_names(lines[0]), field_names(redis_line),
           "CLIENT LIST fields as redis-server's, in its order")
    own = harness.parse(killer.call("CLIENT", "INFO")).decode()
    chk.ok(own.endswith("\n") and fields(own.strip())["id"] == str(my_id)
           and fields(own.strip())["cmd"] == "client|info", "CLIENT INFO is the caller's", own)
    listed = harness.parse(killer.call("CLIENT", "LIST", "ID", str(ids[1]), "999999",
                                       str(ids[0]), str(ids[1])))
    got = [int(fields(l)["id"]) for l in listed.decode().split("\n") if l]
    chk.eq(got, [ids[1], ids[0], ids[1]], "CLIENT LIST ID: in the order asked, repeats kept")

    # Kill by ID, each victim (both workers): reply 1, then the victim's connection closes.
    for i, v in zip(ids[:6], victims[:6]):
        chk.eq(killer.call("CLIENT", "KILL", "ID", str(i)), b":1\r\n", f"CLIENT KILL ID {i}")
        chk.ok(v.read_closed(), f"client {i} is disconnected")
    left = {int(fields(l)["id"]) for l in list_lines(killer)}
    chk.ok(not left & set(ids[:6]), "killed clients are gone from CLIENT LIST", left)
    # By ADDR, and the old form.
    chk.eq(killer.call("CLIENT", "KILL", "ADDR", local_addr(victims[6])), b":1\r\n",
           "CLIENT KILL ADDR")
    chk.ok(victims[6].read_closed(), "the client killed by ADDR is disconnected")
    chk.eq(killer.call("CLIENT", "KILL", local_addr(victims[7])), b"+OK\r\n",
           "CLIENT KILL <addr> (old form)")
    chk.ok(victims[7].read_closed(), "the client killed by the old form is disconnected")
    chk.eq(killer.call("CLIENT", "KILL", local_addr(victims[7])), b"-ERR No such client\r\n",
           "CLIENT KILL <addr> of no client")
    # SKIPME.
    chk.eq(killer.call("CLIENT", "KILL", "ID", str(my_id)), b":0\r\n",
           "CLIENT KILL ID <self> skips the caller (SKIPME yes by default)")
    chk.eq(killer.call("CLIENT", "KILL", "ID", str(my_id), "SKIPME", "yes"), b":0\r\n",
           "CLIENT KILL ID <self> SKIPME yes")
    chk.eq(killer.call("PING"), b"+PONG\r\n", "the caller is still connected")
    # TYPE pubsub selects no plain client; LADDR + USER + TYPE normal select the other two.
    chk.eq(killer.call("CLIENT", "KILL", "TYPE", "pubsub", "SKIPME", "yes"), b":0\r\n",
           "CLIENT KILL TYPE pubsub")
    laddr = fields(list_lines(killer)[0])["laddr"]
    chk.eq(killer.call("CLIENT", "KILL", "LADDR", laddr, "USER", "default", "TYPE", "normal",
                       "ID", str(ids[8])), b":1\r\n", "CLIENT KILL LADDR USER TYPE ID")
    chk.ok(victims[8].read_closed(), "the client killed by LADDR/USER/TYPE is disconnected")
    # MAXAGE: only clients older than it.
    time.sleep(2.1)
    young = harness.Client(strata.port)
    young_id = int(harness.parse(young.call("CLIENT", "ID")))
    chk.eq(killer.call("CLIENT", "KILL", "ID", str(young_id), "MAXAGE", "1"), b":0\r\n",
           "CLIENT KILL MAXAGE spares a young client")
    chk.eq(killer.call("CLIENT", "KILL", "ID", str(ids[9]), "MAXAGE", "1"), b":1\r\n",
           "CLIENT KILL MAXAGE kills an older one")
    chk.ok(victims[9].read_closed(), "the client killed by MAXAGE is disconnected")
    chk.eq(young.call("PING"), b"+PONG\r\n", "the young client is alive")
    # SKIPME no: the caller itself, after the reply.
    chk.eq(killer.call("CLIENT", "KILL", "ID", str(my_id), "SKIPME", "no"), b":1\r\n",
           "CLIENT KILL ID <self> SKIPME no")
    chk.ok(killer.read_closed(), "the caller is disconnected after its reply")
    for c in victims + [killer, young, direct]:
        c.close()


def upstream_untouched(chk, strata, redis):
    direct = harness.Client(redis.port)
    mine = int(harness.parse(direct.call("CLIENT", "ID")))
    redis_ids = [int(fields(l)["id"]) for l in
                 harness.parse(direct.call("CLIENT", "LIST")).decode().split("\n") if l]
    strata_conns = [i for i in redis_ids if i != mine]
    c = harness.Client(strata.port)
    chk.ok(len(strata_conns) >= 4, "Redis sees strata's upstream connections", strata_conns)
    answers = [c.call("CLIENT", "KILL", "ID", str(i)) for i in strata_conns]
    chk.ok(all(a == b":0\r\n" for a in answers),
           "CLIENT KILL ID of strata's upstream connections kills nothing", answers)
    chk.eq(c.call("CLIENT", "KILL", "ID", "987654"), b":0\r\n", "CLIENT KILL ID <nonexistent>")
    after = [int(fields(l)["id"]) for l in
             harness.parse(direct.call("CLIENT", "LIST")).decode().split("\n") if l]
    chk.ok(set(strata_conns) <= set(after), "strata's upstream connections are all still there",
           f"{strata_conns} -> {after}")
    chk.eq(info_field(c, "upstream_up"), "1", "INFO upstream_up stays 1")
    chk.eq(c.call("SET", "ident:k", "v"), b"+OK\r\n", "strata still forwards")
    chk.ok(not upstream_lost(strata), "no lost upstream connection in strata's log",
           strata.log_tail(10))
    c.close()
    direct.close()


def unblock(chk, strata, redis):
    admin = harness.Client(strata.port)
    direct = harness.Client(redis.port)
    for reason, want in ((None, b"*-1\r\n"), ("TIMEOUT", b"*-1\r\n"),
                         ("ERROR", b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n")):
        blocked = harness.Client(strata.port, timeout=15)
        bid = int(harness.parse(blocked.call("CLIENT", "ID")))
        blocked.send(harness.encode("BLPOP", "ident:nolist", "0"))
        ok = harness.wait_for(lambda: "b" in next(
            (fields(l)["flags"] for l in list_lines(admin) if fields(l)["id"] == str(bid)), ""))
        chk.ok(ok, f"the client in BLPOP shows flags=b ({reason})")
        # Redis blocks it once it has read the BLPOP (as the suite's wait_for_blocked_client).
        chk.ok(harness.wait_for(lambda: info_field(direct, "blocked_clients") == "1"),
               f"Redis has the client blocked ({reason})")
        args = ["CLIENT", "UNBLOCK", str(bid)] + ([reason] if reason else [])
        chk.eq(admin.call(*args), b":1\r\n", f"CLIENT UNBLOCK {reason or ''} of a blocked client")
        chk.eq(blocked.read_reply(), want, f"the unblocked client gets Redis's reply ({reason})")
        chk.eq(admin.call("CLIENT", "UNBLOCK", str(bid)), b":0\r\n",
               "CLIENT UNBLOCK of a client not blocked")
        chk.eq(blocked.call("PING"), b"+PONG\r\n", "the unblocked client goes on")
        blocked.close()
    chk.eq(admin.call("CLIENT", "UNBLOCK", "987654"), b":0\r\n", "CLIENT UNBLOCK of no client")
    admin.close()
    direct.close()


def pause_and_modes(chk, strata):
    c = harness.Client(strata.port)
    w = harness.Client(strata.port)
    chk.eq(c.call("CLIENT", "PAUSE", "600", "WRITE"), b"+OK\r\n", "CLIENT PAUSE through strata")
    t0 = time.monotonic()
    chk.eq(w.call("SET", "ident:p", "v"), b"+OK\r\n", "a write during the pause")
    chk.ok(time.monotonic() - t0 > 0.3, "the write waited for Redis's pause",
           f"{time.monotonic() - t0:.2f}s")
    chk.eq(c.call("CLIENT", "PAUSE", "5000", "WRITE"), b"+OK\r\n", "CLIENT PAUSE again")
    chk.eq(c.call("CLIENT", "UNPAUSE"), b"+OK\r\n", "CLIENT UNPAUSE through strata")
    t0 = time.monotonic()
    chk.eq(w.call("SET", "ident:p", "w"), b"+OK\r\n", "a write after UNPAUSE")
    chk.ok(time.monotonic() - t0 < 0.3, "UNPAUSE reached Redis")
    chk.eq(c.call("CLIENT", "NO-EVICT", "on"), b"+OK\r\n", "CLIENT NO-EVICT on")
    flags = fields(harness.parse(c.call("CLIENT", "INFO")).decode().strip())["flags"]
    chk.eq(flags, "e", "CLIENT INFO flags=e after NO-EVICT on")
    chk.eq(c.call("CLIENT", "NO-EVICT", "off"), b"+OK\r\n", "CLIENT NO-EVICT off")
    chk.eq(c.call("CLIENT", "GETREDIR"), b":-1\r\n", "CLIENT GETREDIR without tracking")
    c.close()
    w.close()


# Lines whose replies must match redis-server's byte for byte (no client state involved).
kSameAsRedis = [
    ("CLIENT", "KILL", "ID", "abc"), ("CLIENT", "KILL", "ID", "0"), ("CLIENT", "KILL", "ID", "-3"),
    ("CLIENT", "KILL", "TYPE", "foo"), ("CLIENT", "KILL", "USER", "nobody"),
    ("CLIENT", "KILL", "SKIPME", "maybe"), ("CLIENT", "KILL", "FOO", "bar"),
    ("CLIENT", "KILL", "ADDR"), ("CLIENT", "KILL"), ("CLIENT", "KILL", "1.2.3.4:5"),
    ("CLIENT", "KILL", "ADDR", "1.2.3.4:5", "ID"), ("CLIENT", "KILL", "ID", "987654"),
    ("CLIENT", "KILL", "ID", "987654", "TYPE", "master"), ("CLIENT", "LIST", "TYPE", "foo"),
    ("CLIENT", "LIST", "ID", "abc"), ("CLIENT", "LIST", "foo"), ("CLIENT", "LIST", "ID", "987654"),
    ("CLIENT", "LIST", "TYPE", "master"), ("CLIENT", "UNBLOCK", "abc"),
    ("CLIENT", "UNBLOCK", "1", "FOO"), ("CLIENT", "UNBLOCK", "987654"),
    ("CLIENT", "UNBLOCK", "987654", "ERROR"), ("CLIENT", "UNBLOCK", "1", "2", "3"),
    ("CLIENT", "UNBLOCK"), ("CLIENT", "NO-EVICT", "maybe"), ("CLIENT", "NO-EVICT"),
    ("CLIENT", "PAUSE", "abc"), ("CLIENT", "PAUSE", "10", "FOO"), ("CLIENT", "PAUSE", "-1"),
    ("CLIENT", "GETREDIR"), ("CLIENT", "NOPE"), ("CLIENT", "ID", "x"), ("CLIENT", "INFO", "x"),
]


def same_as_redis(chk, strata, redis):
    for proto in (2, 3):
        s = harness.Client(strata.port)
        r = harness.Client(redis.port)
        if proto == 3:
            s.call("HELLO", "3")
            r.call("HELLO", "3")
        for line in kSameAsRedis:
            chk.eq(s.call(*line), r.call(*line), f"RESP{proto} {' '.join(line)}")
        s.close()
        r.close()


def main():
    chk = harness.Checks()
    redis = harness.start_redis()
    strata = harness.start_strata(redis, extra=("--workers", "2"))
    return phases.run(chk, strata, (
        ("list and kill", lambda: list_and_kill(chk, strata, redis)),
        ("upstream untouched", lambda: upstream_untouched(chk, strata, redis)),
        ("unblock", lambda: unblock(chk, strata, redis)),
        ("pause and modes", lambda: pause_and_modes(chk, strata)),
        ("same as redis", lambda: same_as_redis(chk, strata, redis))))

if __name__ == "__main__":
    sys.exit(main())
