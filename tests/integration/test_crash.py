#!/usr/bin/env python3
"""ctest entry for the write-behind crash test: crash_write_behind.py with 20 kill -9 cycles
(the standalone script runs 1000 by default). STRATA_CRASH_CYCLES overrides the count."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import crash_write_behind  # noqa: E402

if __name__ == "__main__":
    cycles = os.environ.get("STRATA_CRASH_CYCLES", "20")
    sys.exit(crash_write_behind.main(["--cycles", cycles] + sys.argv[1:]))
