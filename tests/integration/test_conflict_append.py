#!/usr/bin/env python3
"""conflict = "append" (chat): messages that never conflict, in one gapless order per stream.
- 3 strata instances (2 workers each; one redis-server, one PostgreSQL, a NATS bus), 30 writers
  appending concurrently to two streams through random instances with STRATA APPEND, while 6
  readers tail the streams with STRATA RANGE through random instances.
- The positions answered are exactly 1..N per stream (nothing lost, none given twice); each
  writer's own messages got increasing positions in the order it sent them; every instance's
  RANGE of the whole stream is the same sequence, and holds at each position the message whose
  writer was answered that position; STRATA HEAD is N everywhere; every reader saw a prefix of
  that sequence (no hole, no reordering); GET stream:position reads a message through the tiers.
- Refused: SET and DEL on the prefix, APPEND on a prefix without conflict = append, a RANGE past
  its limit, conflict = append under write-behind or cache, negative_ttl_ms with append."""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import harness_nats  # noqa: E402
import harness_pg  # noqa: E402
from policy_util import base_config, bulk, finish, policy_block  # noqa: E402

kInstances = 3
kWriters = 30
kReaders = 6
kSeconds = 6.0
kStreams = ["chat:room1", "chat:room2"]
kPage = 1000  # the server's STRATA RANGE limit


def config(pg, nats, name):
    return (f'[nats]\nurl = "{harness_nats.url(nats)}"\ninstance = "{name}"\n\n' +
            base_config(pg, [policy_block("chat:", "write-through", conflict="append",
                                          sync="update"),
                             policy_block("plain:", "write-through")],
                        journal_dir=f"journal-{name}"))


def parse(raw):
    return harness.parse(raw)


def refusals(chk, pg, c):
    r = c.call("SET", "chat:room9:1", "x")
    chk.ok(r.startswith(b"-ERR") and b"STRATA APPEND" in r, "SET on an append prefix refused", r)
    r = c.call("DEL", "chat:room9:1")
    chk.ok(r.startswith(b"-ERR") and b"conflict = append" in r, "DEL on an append prefix refused",
           r)
    r = c.call("STRATA", "APPEND", "plain:s", "x")
    chk.ok(r.startswith(b"-ERR") and b"conflict = append" in r, "APPEND elsewhere refused", r)
    r = c.call("STRATA", "RANGE", "chat:room9", "1", str(kPage + 1))
    chk.ok(r.startswith(b"-ERR") and str(kPage).encode() in r, "RANGE past its limit refused", r)
    r = c.call("STRATA", "RANGE", "chat:room9", "0", "5")
    chk.ok(r.startswith(b"-ERR"), "RANGE from 0 refused", r)
    chk.eq(parse(c.call("STRATA", "HEAD", "chat:room9")), 0, "HEAD of an empty stream: 0")
    chk.eq(parse(c.call("STRATA", "RANGE", "chat:room9", "1", "10")), [],
           "RANGE of an empty stream: []")
    p1 = parse(c.call("STRATA", "APPEND", "chat:solo", "hello"))
    p2 = parse(c.call("STRATA", "APPEND", "chat:solo", "world"))
    chk.eq((p1, p2), (1, 2), "first appends: positions 1 and 2")
    chk.eq(c.call("GET", "chat:solo:2"), bulk("world"), "GET stream:position reads the message")
    chk.eq(parse(c.call("STRATA", "RANGE", "chat:solo", "1", "10")), [b"hello", b"world"],
           "RANGE stops at the first position not written")
    for strategy in ("write-behind", "cache"):
        code, out, _ = harness_pg.run_strata_once(
            base_config(pg, [policy_block("w:", strategy, conflict="append")]))
        chk.ok(code not in (None, 0) and "conflict 'append' needs" in out,
               f"conflict = append under {strategy} refused", out[-300:])
    code, out, _ = harness_pg.run_strata_once(
        base_config(pg, [policy_block("w:", "write-through", conflict="append",
                                      negative_ttl_ms=1000)]))
    chk.ok(code not in (None, 0) and "negative_ttl_ms must be 0" in out,
           "negative_ttl_ms with append refused", out[-300:])


def writer(ports, wid, got, errors, stop):
    rng = random.Random(wid)
    conns = [harness.Conn(p, timeout=15) for p in ports]
    n = 0
    while not stop.is_set():
        stream = rng.choice(kStreams)
        msg = f"w{wid}-{n}"
        r = rng.choice(conns).call("STRATA", "APPEND", stream, msg)
        v = parse(r)
        if isinstance(v, int) and v > 0:
            got.append((stream, v, msg))
            n += 1
        else:
            errors.append(r)
    for c in conns:
        c.close()


def reader(ports, rid, seen, errors, stop):
    rng = random.Random(1000 + rid)
    conns = [harness.Conn(p, timeout=15) for p in ports]
    while not stop.is_set():
        stream = rng.choice(kStreams)
        have = seen.setdefault(stream, [])
        r = parse(rng.choice(conns).call("STRATA", "RANGE", stream, str(len(have) + 1), "50"))
        if isinstance(r, list):
            have.extend(r)
        else:
            errors.append(r)
    for c in conns:
        c.close()


def whole(c, stream):
    out = []
    while True:
        page = parse(c.call("STRATA", "RANGE", stream, str(len(out) + 1), str(kPage)))
        if not isinstance(page, list):
            return page
        out.extend(page)
        if len(page) < kPage:
            return out


def main():
    chk = harness.Checks()
    if harness.fake_run():
        return 0
    pg, nats, redis, servers = harness_nats.start_cluster("append", kInstances, config, workers=2)
    ports = [s.port for s in servers]
    refusals(chk, pg, harness.Conn(ports[0]))
    got = [[] for _ in range(kWriters)]
    seen = [dict() for _ in range(kReaders)]
    errors = []
    harness.run_threads_for(kSeconds,
                            [(writer, (ports, i, got[i], errors)) for i in range(kWriters)] +
                            [(reader, (ports, i, seen[i], errors)) for i in range(kReaders)])
    chk.eq(errors[:3], [], "every APPEND answered a position, every RANGE an array")
    total = 0
    for stream in kStreams:
        answered = {}
        dupes = 0
        for w in got:
            mine = [(pos, msg) for s, pos, msg in w if s == stream]
            chk.ok(all(a[0] < b[0] for a, b in zip(mine, mine[1:])),
                   f"{stream}: a writer's messages in the order it sent them")
            for pos, msg in mine:
                dupes += pos in answered
                answered[pos] = msg
        n = len(answered)
        total += n
        chk.eq(dupes, 0, f"{stream}: no position answered twice")
        chk.eq(sorted(answered), list(range(1, n + 1)), f"{stream}: positions 1..{n}, no gap")
        want = [answered[p].encode() for p in range(1, n + 1)]
        for p in ports:
            c = harness.Conn(p)
            chk.eq(parse(c.call("STRATA", "HEAD", stream)), n, f"{stream}: HEAD on :{p}")
            seq = whole(c, stream)
            chk.ok(seq == want, f"{stream}: RANGE on :{p} is the answered order",
                   (len(seq) if isinstance(seq, list) else seq, n))
        for i, s in enumerate(seen):
            have = s.get(stream, [])
            chk.ok(have == want[:len(have)], f"{stream}: reader {i} saw a prefix of the order",
                   len(have))
        chk.ok(max((len(s.get(stream, [])) for s in seen), default=0) > 0,
               f"{stream}: the readers saw messages while writers wrote")
    chk.ok(total >= 300, "enough appends to mean something", total)
    print(f"{total} appends from {kWriters} writers on {kInstances} instances, "
          f"{sum(len(v) for s in seen for v in s.values())} messages read by {kReaders} readers")
    return finish(chk, servers + [nats, redis])


if __name__ == "__main__":
    sys.exit(main())
