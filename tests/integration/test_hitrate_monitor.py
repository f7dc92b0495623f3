#!/usr/bin/env python3
"""The live hit-rate monitor against the simulator: a seeded Zipf trace is replayed through
strata (cache-aside: MGET, then SET the misses), and STRATA HITRATE's sampled estimates for every
policy at 0.5x, 1x and 2x the L1 size must land within 2 points of what `strata-bench sim`
computes for the very same trace and byte sizes over every key (the issue-4 bound for shadow
estimates). A second prefix with a loop over more keys than fit checks the estimates are per
prefix (LRU's estimate there is near 1, LIRS's far lower)."""

import bisect
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import encode  # noqa: E402

kMaxmemory = 512 * 1024
kSampleShift = 2              # 1 key in 4: shadows of ~150-600 objects at these sizes
kObjects = 20000
kRequests = 200000
kAlpha = 1.0
kValue = b"v" * 100
kChunk = 100
kTolerance = 0.02             # issue 4: shadow estimates within 2 points of the full simulation
kLoopKeys = 6000
kLoopRounds = 6
kPolicies = ["s3fifo", "lru", "fifo", "clock", "sieve", "wtinylfu", "arc", "lirs"]


def zipf_trace(seed=1):
    """Ranks by inverse CDF (p_i ~ i^-alpha), mapped to ids by a random permutation."""
    rng = random.Random(seed)
    cdf, total = [], 0.0
    for i in range(1, kObjects + 1):
        total += i ** -kAlpha
        cdf.append(total)
    ids = list(range(kObjects))
    rng.shuffle(ids)
    return [f"z:{ids[bisect.bisect_left(cdf, rng.random() * total)]:06d}"
            for _ in range(kRequests)]


def replay(c, keys):
    for start in range(0, len(keys), kChunk):
        chunk = keys[start:start + kChunk]
        got = harness.parse(c.call("MGET", *chunk))
        misses = list(dict.fromkeys(k for k, v in zip(chunk, got) if v is None))
        if misses:
            c.send(b"".join(encode("SET", k, kValue) for k in misses))
            for _ in misses:
                c.read_reply()


def monitor_table(c, prefix):
    """{(policy, column): miss ratio} and the column headers, from STRATA HITRATE <prefix>."""
    text = bytes(harness.parse(c.call("STRATA", "HITRATE", prefix))).decode()
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(f"# prefix {prefix}"))
    header = lines[start + 1].split(",")[1:]
    table = {}
    for line in lines[start + 2:]:
        if not line or line.startswith("#"):
            break
        name, *vals = line.split(",")
        for col, v in enumerate(vals):
            table[(name, col)] = float(v)
    return table, header


def charged_bytes(c):
    """What one z: entry costs in L1 (every z: key has the same length)."""
    c.call("FLUSHALL")
    c.call("SET", "z:000000", kValue)
    text = bytes(harness.parse(c.call("INFO", "strata")))
    used = next(int(l.split(b":")[1]) for l in text.splitlines() if l.startswith(b"l1_used_bytes:"))
    c.call("FLUSHALL")
    return used


def simulate(tmp, keys, size_bytes, sizes):
    path = os.path.join(tmp, "trace.csv")
    with open(path, "w") as f:
        f.writelines(f"{k},{size_bytes}\n" for k in keys)
    bench = harness.strata_bench_bin()
    out = subprocess.run([bench, "sim", "--trace", f"csv:{path}", "--policies", ",".join(kPolicies),
                          "--sizes", ",".join(f"{s}B" for s in sizes), "--format", "csv",
                          "--no-progress"], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"strata-bench sim failed: {out.stderr[:500]}")
    rows = [l.split(",") for l in out.stdout.splitlines()[1:] if l]
    return {(r[0], int(r[1])): float(r[3]) for r in rows}


def main():
    chk = harness.Checks()
    if harness.fake_run():
        return 0
    srv = harness.start_strata(extra=("--maxmemory", str(kMaxmemory), "--hitrate-sample-shift",
                                      str(kSampleShift), "--workers", "1"), tag="strata-hitrate")
    c = harness.Client(srv.port)
    try:
        size = charged_bytes(c)
        keys = zipf_trace()
        replay(c, keys)
        loop = [f"loop:{i}" for i in range(kLoopKeys)] * kLoopRounds
        replay(c, loop)
        est, header = monitor_table(c, "z:")
        sizes = [kMaxmemory // 2, kMaxmemory, kMaxmemory * 2]
        sim = simulate(harness.make_tmpdir("hitrate-sim"), keys, size, sizes)
        worst = 0.0
        print(f"entry charge {size} B; columns {header}")
        for p in kPolicies:
            row = []
            for col, s in enumerate(sizes):
                e, full = est[(p, col)], sim[(p, s)]
                worst = max(worst, abs(e - full))
                row.append(f"{e:.4f}/{full:.4f}")
            print(f"  {p:9s} estimate/sim: {'  '.join(row)}")
        chk.ok(worst <= kTolerance, "every estimate within 2 points of the full simulation",
               f"worst {worst:.4f}")
        loop_est, _ = monitor_table(c, "loop:")
        chk.ok(loop_est[("lru", 1)] > 0.95 and loop_est[("lirs", 1)] < loop_est[("lru", 1)] - 0.2,
               "per prefix: the loop's estimates are its own (LRU ~1, LIRS far lower)",
               f"lru {loop_est[('lru', 1)]:.3f} lirs {loop_est[('lirs', 1)]:.3f}")
    except Exception as e:
        chk.ok(False, "hit-rate monitor vs simulator", f"{type(e).__name__}: {e}")
    c.close()
    code = harness.finish(chk.failed)
    print(f"{chk.passed} passed, {chk.failed} failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
