#!/usr/bin/env python3
"""Differential compatibility suite: one long command script is sent to a real redis-server and
to strata, and the replies must agree byte for byte (TTLs within a tolerance; INFO, HELLO,
CLIENT ID and COMMAND bodies by shape only).

Phase "standalone": strata with no upstream vs a fresh redis-server; commands strata does not
serve natively are left out. Phase "proxy": strata --upstream R vs R itself (the script runs on R
directly, R is flushed, then it runs through strata), everything included.

Exit status is non-zero on any mismatch; each mismatch prints both replies.
Env STRATA_COMPAT_REPORT=FILE also appends the mismatches to FILE (markdown)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compat_core  # noqa: E402
import compat_dsl  # noqa: E402
import compat_proxy  # noqa: E402
import harness  # noqa: E402

kShowBytes = 300  # per reply in a mismatch report; 10 MB values are cut


def build_script(with_upstream):
    """Standalone: everything strata serves alone. Proxy: the RESP2 part, then pinned RESP3
    (the shared RESP3 part is its own phase, proxy_resp3_shared_script)."""
    s = compat_dsl.Script()
    compat_core.build(s, "c2:")
    if with_upstream:
        compat_proxy.build(s, "p2:")
        s.hello("3")
        compat_core.databases(s, "c3p:")
        compat_proxy.build_resp3(s, "p3p:")
    else:
        s.hello("3")
        compat_core.build(s, "c3:")
    s.hello("2")
    compat_core.flushes(s, "c2:")
    if with_upstream:
        return s.steps
    return [st for st in s.steps if not st.needs_upstream()]


def proxy_resp3_shared_script():
    """Every command of the scripts again in RESP3, none of them pinning the client: strata
    converts the shared connections' RESP2 replies (run_phase checks nobody was pinned)."""
    s = compat_dsl.Script()
    s.hello("3")
    compat_core.build(s, "c3:", select_other_db=False)
    compat_proxy.build_resp3_shared(s, "p3:")
    return s.steps


def pinned_total(strata):
    c = harness.Client(strata.port)
    info = c.call("INFO", "strata").decode(errors="replace")
    c.close()
    for line in info.splitlines():
        if line.startswith("upstream_pinned_total:"):
            return int(line.split(":", 1)[1])
    raise AssertionError("INFO strata has no upstream_pinned_total")


def _show(result):
    if isinstance(result, tuple):
        return repr(result)[:kShowBytes * 3]
    if isinstance(result, list):
        return "[" + ", ".join(_show(r) for r in result) + "]"
    text = repr(result[:kShowBytes])
    if len(result) > kShowBytes:
        text += f"...({len(result)} bytes)"
    return text


def compare(phase, steps, want, got, report):
    passed = failed = 0
    for i, (step, a, b) in enumerate(zip(steps, want, got)):
        if step.kind in ("sleep", "reconnect", "send"):
            continue
        if compat_dsl.same(step, a, b):
            passed += 1
            continue
        failed += 1
        lines = [f"MISMATCH {phase} #{i}: {step.describe()} (mode {step.mode})",
                 f"  redis:  {_show(a)}", f"  strata: {_show(b)}"]
        print("\n".join(lines))
        report.append(lines)
    return passed, failed


def run_phase(phase, steps, redis_port, strata, between=None, upstream_port=None):
    print(f"--- {phase}: {len(steps)} steps", flush=True)
    want = compat_dsl.run_steps(steps, redis_port)
    if between:
        between()
    got = compat_dsl.run_steps(steps, strata.port, upstream_port)
    report = []
    passed, failed = compare(phase, steps, want, got, report)
    if not strata.alive():
        failed += 1
        print(f"MISMATCH {phase}: strata exited; log tail:\n{strata.log_tail()}")
        report.append([f"strata exited during {phase}"])
    print(f"{phase}: {passed} passed, {failed} failed", flush=True)
    return passed, failed, report


def standalone_refusals(strata):
    """Standalone strata answers commands it does not serve with an error and stays usable."""
    c = harness.Client(strata.port)
    failed = 0
    for args in (("RPUSH", "l", "a"), ("HSET", "h", "f", "v"), ("MULTI",), ("SUBSCRIBE", "c"),
                 ("BLPOP", "l", "1"), ("EVAL", "return 1", "0")):
        reply = c.call(*args)
        ok = reply.startswith(b"-") and c.call("PING") == b"+PONG\r\n"
        if not ok:
            failed += 1
            print(f"MISMATCH standalone-refusal: {args!r} -> {reply!r} (want an error reply)")
    c.close()
    return failed


def write_report(reports):
    path = os.environ.get("STRATA_COMPAT_REPORT")
    if not path or not any(reports):
        return
    with open(path, "a") as f:
        for report in reports:
            for lines in report:
                f.write("\n".join(lines) + "\n\n")


def main():
    total_pass = total_fail = 0
    reports = []

    redis1 = harness.start_redis("redis-standalone")
    strata1 = harness.start_strata(tag="strata-standalone")
    p, f, r = run_phase("standalone", build_script(False), redis1.port, strata1)
    f += standalone_refusals(strata1) if not harness.is_fake() else 0
    total_pass, total_fail = total_pass + p, total_fail + f
    reports.append(r)
    strata1.stop()
    redis1.stop()

    pw = "s3cret pass"
    redis3 = harness.start_redis("redis-auth", extra=("--requirepass", pw))
    strata3 = harness.start_strata(tag="strata-auth", extra=("--requirepass", pw))
    s = compat_dsl.Script()
    compat_core.auth(s, "a:", pw)
    p, f, r = run_phase("auth", s.steps, redis3.port, strata3)
    total_pass, total_fail = total_pass + p, total_fail + f
    reports.append(r)
    strata3.stop()
    redis3.stop()

    redis2 = harness.start_redis("redis-upstream")
    strata2 = harness.start_strata(upstream=redis2, tag="strata-proxy")

    def flush_upstream():
        c = harness.Client(redis2.port)
        c.call("FLUSHALL")
        c.close()

    p, f, r = run_phase("proxy", build_script(True), redis2.port, strata2, flush_upstream,
                        redis2.port)
    total_pass, total_fail = total_pass + p, total_fail + f
    reports.append(r)

    pinned_before = pinned_total(strata2)
    p, f, r = run_phase("proxy-resp3-shared", proxy_resp3_shared_script(), redis2.port, strata2,
                        flush_upstream, redis2.port)
    pinned = pinned_total(strata2) - pinned_before
    if pinned:
        f += 1
        r.append([f"proxy-resp3-shared: {pinned} client(s) pinned (want every RESP3 command on "
                  "the shared path)"])
        print(r[-1][0])
    total_pass, total_fail = total_pass + p, total_fail + f
    reports.append(r)

    write_report(reports)
    code = harness.finish(total_fail)
    total_fail += 1 if code and not total_fail else 0
    print(f"{total_pass} passed, {total_fail} failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
