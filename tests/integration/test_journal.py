#!/usr/bin/env python3
"""Write-behind journal edge cases across kill -9 (the random-kill cycles are in test_crash.py):
a DEL flushed to PostgreSQL must stay deleted after a restart even when an older segment that
still holds the key's superseded SET is kept alive by another key's pending write (tiny segments
force the rotation); acknowledged writes in several segments all come back."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from policy_util import (  # noqa: E402
    Conn, base_config, finish, flush_behind, kNil, kOk, kSchema, pg_value, policy_block,
    run_phases)

kSegmentBytes = 4096  # the smallest segment the config allows: a few writes rotate it
kFillerWrites = 12
kFillerBytes = 1000


def config(pg):
    return base_config(pg, [
        policy_block("hold:", "write-behind", flush_interval_ms=60000),
        policy_block("wb:", "write-behind", flush_interval_ms=20),
    ]).replace("shutdown_drain_ms = 3000",
               f"shutdown_drain_ms = 3000\nsegment_bytes = {kSegmentBytes}")


def _filler(c, pg, tag):
    for i in range(kFillerWrites):
        c.call("SET", f"wb:fill-{tag}-{i}", "f" * kFillerBytes)
    last = f"wb:fill-{tag}-{kFillerWrites - 1}"
    return harness.wait_for(lambda: pg_value(pg, last) is not None, timeout=5)


def _segments(srv):
    d = os.path.join(srv.tmpdir, "journal")
    try:
        return sorted((f, os.path.getsize(os.path.join(d, f))) for f in os.listdir(d))
    except OSError:
        return []


def deleted_stays_deleted(chk, pg):
    """One connection (one worker, one journal): hold:a stays pending (60 s interval) in the
    first segment, which also gets SET wb:k; rotation; DEL wb:k flushes; rotation again; kill -9;
    restart: the first segment is replayed, and wb:k must not come back."""
    srv = harness.start_strata_config(config(pg), tag="strata-journal")
    c = Conn(srv.port)
    chk.eq(c.call("SET", "hold:a", "held"), kOk, "SET hold:a (stays pending)")
    chk.eq(c.call("SET", "wb:k", "v1"), kOk, "SET wb:k")
    chk.ok(harness.wait_for(lambda: pg_value(pg, "wb:k") == b"v1", timeout=5), "wb:k flushed")
    chk.ok(_filler(c, pg, "a"), "filler flushed (segments rotate)", _segments(srv))
    chk.eq(c.call("DEL", "wb:k"), b":1\r\n", "DEL wb:k")
    chk.ok(harness.wait_for(lambda: pg_value(pg, "wb:k") is None, timeout=5),
           "the DEL reached PostgreSQL")
    chk.ok(_filler(c, pg, "b"), "more filler flushed (the DEL's segment rotates out)")
    print(f"info: segments before the kill: {_segments(srv)}")
    srv.kill(signal.SIGKILL)
    harness.restart_now(srv.srv)
    c = Conn(srv.port)
    chk.eq(flush_behind(c), kOk, "FLUSH-BEHIND after the restart")
    chk.eq(pg_value(pg, "wb:k"), None, "a flushed DEL is not undone by replaying an older SET")
    chk.eq(c.call("GET", "wb:k"), kNil, "GET of the deleted key after the restart")
    chk.eq(pg_value(pg, "hold:a"), b"held", "the pending write in the kept segment is replayed")
    c.close()
    srv.stop()


def many_segments(chk, pg):
    """Acknowledged writes spread over many small segments, none flushed (60 s interval):
    all are replayed after kill -9."""
    srv = harness.start_strata_config(config(pg), tag="strata-journal-many")
    c = Conn(srv.port)
    acks = [c.call("SET", f"hold:m{i}", f"{i}-" + "m" * 500) for i in range(60)]
    chk.ok(all(a == kOk for a in acks), "60 pending writes acked", acks[:2])
    chk.ok(len(_segments(srv)) >= 3, "they span several segments", _segments(srv))
    srv.kill(signal.SIGKILL)
    harness.restart_now(srv.srv)
    c = Conn(srv.port)
    chk.eq(flush_behind(c), kOk, "FLUSH-BEHIND after the restart")
    got = [pg_value(pg, f"hold:m{i}") for i in range(60)]
    lost = [i for i in range(60) if got[i] != f"{i}-".encode() + b"m" * 500]
    chk.ok(not lost, "every acknowledged write reached PostgreSQL", lost[:5])
    c.close()
    srv.stop()


def main():
    pg = harness.start_postgres("pg-journal")
    pg.sql(kSchema)
    chk = harness.Checks()
    run_phases(chk, [(deleted_stays_deleted, (chk, pg)), (many_segments, (chk, pg))])
    return finish(chk, [])


if __name__ == "__main__":
    sys.exit(main())
