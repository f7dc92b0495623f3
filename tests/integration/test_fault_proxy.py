#!/usr/bin/env python3
"""The fault proxy of the sync fault suites (fault_proxy.py), checked against a real
nats-server: pass, delay, stall, cut, refuse, and drop_next_msg (exactly one MSG frame)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from fault_proxy import selfcheck  # noqa: E402

if __name__ == "__main__":
    failed = selfcheck()
    sys.exit(harness.finish(failed))
