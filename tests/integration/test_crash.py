#!/usr/bin/env python3
"""ctest entry for the write-behind crash test: crash_write_behind.py with 20 kill -9 cycles in
two runs -- 12 cycles with DELs in the traffic, 8 without (those also replay stale journals, and
acknowledge from the page cache: [journal] fdatasync_interval_ms = 20, which kill -9 must not
tell apart from a per-commit fdatasync).
The standalone script runs 1000 cycles by default. STRATA_CRASH_CYCLES overrides the total."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import crash_write_behind  # noqa: E402

if __name__ == "__main__":
    total = int(os.environ.get("STRATA_CRASH_CYCLES", "20"))
    with_dels = max(1, total * 3 // 5)
    code = crash_write_behind.main(["--cycles", str(with_dels)] + sys.argv[1:])
    code |= crash_write_behind.main(["--cycles", str(max(1, total - with_dels)), "--del-ratio", "0",
                                     "--replay-every", "2", "--fdatasync-interval-ms", "20"] +
                                    sys.argv[1:])
    sys.exit(code)
