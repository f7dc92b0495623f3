"""Runs a suite's phases in order, timing each, then reports: the main() the slow-command and
client-identity suites share."""

import time

import harness


def run(chk, strata, phases):
    """phases: (name, fn) pairs. Returns the exit code (harness.finish)."""
    for name, fn in phases:
        t0 = time.monotonic()
        fn()
        print(f"-- {name}: {time.monotonic() - t0:.1f}s", flush=True)
    chk.ok(strata.alive(), "strata still running")
    print(f"{chk.passed} passed, {chk.failed} failed")
    return harness.finish(chk.failed)
