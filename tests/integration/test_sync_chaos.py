#!/usr/bin/env python3
"""sync_chaos.py for 60 s with 3 instances (writers and readers through every instance, a writer
straight to redis-server on the cache prefix), faults mixed in: nats-server killed and
restarted 2 s later, nats-server SIGSTOPped 5 s then SIGCONTed (every link half-open), one strata
kill -9'd and restarted. Passes when no read is staler than the bound the configuration promises
(sync_chaos.kDefaultBoundMs: ping_interval x (max_pings_out + 1) + max_staleness_ms + 2
heartbeats + 250 ms), and the run cannot have passed vacuously:
  - enough writes acknowledged and reads checked, on every instance;
  - L1 really served the synced prefixes (a run served from PostgreSQL only is always fresh);
  - the faults really happened (reconnects and degraded episodes on every instance, the
    restarted instance's new epoch seen by the others, gaps and partition drops counted);
  - the control phase (sync = "off", same checker, same bound) shows stale reads.
STRATA_CHAOS_SECONDS overrides the 60 s (by hand; ctest uses the default)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from policy_util import finish  # noqa: E402
from sync_chaos import Chaos, kDefaultBoundMs  # noqa: E402

kSeconds = float(os.environ.get("STRATA_CHAOS_SECONDS", "60"))
kInstances = 3
kMinReadsPerS = 1000   # checked reads per second of traffic, all instances (~5000 seen)
kMinWritesPerS = 500   # acknowledged writes per second (~2500 seen)
kMinL1Share = 0.2      # of the synced prefixes' reads, served from L1 (~0.5 seen)


def main():
    chk = harness.Checks()
    if harness.fake_run():
        return 0
    t0 = time.monotonic()
    chaos = Chaos(instances=kInstances).start()
    report = chaos.run(kSeconds, kDefaultBoundMs, faults=True)
    report.explain = 3
    report.print()
    v = report.verdict
    chk.ok(not v.stale, f"no read staler than {kDefaultBoundMs} ms",
           [(k, val, r, round(st * 1000)) for k, val, r, _, st in v.stale[:10]])
    chk.ok(not v.unknown, "every value read was written by some writer", v.unknown[:5])
    chk.ok(not report.bad, "every GET reply is a bulk string, nil or an error", report.bad[:5])
    # Errors are availability, not staleness (a restarted strata answers before its Redis
    # connection is up: "-ERR upstream ... unavailable (connecting)"); a few are expected.
    chk.ok(len(report.error_replies) <= 0.01 * v.reads, "error replies to GET stay rare",
           report.error_replies[:5])
    chk.ok(v.reads >= kMinReadsPerS * kSeconds, f"at least {kMinReadsPerS}/s reads checked",
           v.reads)
    chk.ok(v.acked >= kMinWritesPerS * kSeconds,
           f"at least {kMinWritesPerS}/s writes acknowledged", v.acked)
    readers = {}
    for log in chaos.history.reads:
        for _, _, _, _, reader in log[:1]:
            readers[reader[0]] = readers.get(reader[0], 0) + len(log)
    for name in chaos.names:
        chk.ok(readers.get(name, 0) >= kMinReadsPerS * kSeconds / (4 * kInstances),
               f"instance {name} served its share of reads", readers)
    for prefix in ("wt:", "up:"):
        reads = report.per_prefix[prefix].reads
        chk.ok(report.hits[prefix] >= kMinL1Share * reads,
               f"{prefix} L1 served at least {kMinL1Share:.0%} of its reads",
               (report.hits[prefix], reads))
    victim = chaos.names[1]
    for name, c in report.per.items():
        chk.ok(c.get("sync_reconnects", 0) >= 2, f"{name}: reconnected after each NATS fault",
               c)
        chk.ok(c.get("sync_degraded_episodes", 0) >= 2,
               f"{name}: degraded during each NATS fault", c)
        if name != victim:
            chk.ok(c.get("sync_new_epochs", 0) >= 1, f"{name}: saw {victim}'s restart", c)
    chk.ok(report.total.get("sync_gaps", 0) > 0 and
           report.total.get("sync_partition_drops", 0) > 0,
           "gaps and partition drops counted", report.total)
    cv = report.control
    chk.ok(cv is not None and len(cv.stale) > 0,
           "control (sync off): the checker sees stale reads", cv and len(cv.stale))
    print(f"wall time {time.monotonic() - t0:.0f} s")
    return finish(chk, chaos.cluster.servers())


if __name__ == "__main__":
    sys.exit(main())
