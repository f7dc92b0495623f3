#!/usr/bin/env python3
"""Real client libraries through strata: ioredis and node-redis v5 (RESP3) from
client_workload.js, and redis-py (Debian's, run by /usr/bin/python3) from client_redis_py.py;
pubsub_reconnect.js: auto-reconnecting subscribers behind a relay that resets their connections
(every message after re-subscription received once, PUBLISH counting the live subscribers).
Each workload runs against redis-server directly first (proving the workload itself), then
against strata standalone and strata --upstream.

The node packages are installed with npm into a cache dir (env STRATA_NODE_CACHE, default
<source>/build/node_cache), once, under a lock."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
kWorkloadTimeoutS = 180
kReconnectRounds = 50  # cuts in a row a subscriber must survive through strata
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-redis lives there, not in a venv


def run_workload(argv, env=None):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=kWorkloadTimeoutS,
                           env=env, cwd=HERE, stdin=subprocess.DEVNULL)
        out = p.stdout + p.stderr
        code = p.returncode
    except subprocess.TimeoutExpired as e:
        out = f"{e.stdout or ''}\nTIMEOUT after {kWorkloadTimeoutS}s"
        code = -1
    return code, out.strip()


def main():
    node_modules = harness.ensure_node_packages()
    env = dict(os.environ, NODE_PATH=node_modules)
    redis_direct = harness.start_redis("redis-baseline")
    upstream = harness.start_redis("redis-upstream")
    targets = [("redis directly", redis_direct, "proxy"),
               ("strata standalone", harness.start_strata(tag="strata-standalone"), "standalone"),
               ("strata --upstream", harness.start_strata(upstream=upstream, tag="strata-proxy"),
                "proxy")]
    passed = failed = 0
    for name, srv, mode in targets:
        workloads = [("node (ioredis, node-redis RESP3)",
                      ["node", "client_workload.js", str(srv.port), mode], env),
                     ("redis-py", [SYSTEM_PYTHON, "client_redis_py.py", str(srv.port), mode], None)]
        if mode == "proxy":
            # Subscribers dropped by the network that reconnect on their own (ioredis,
            # node-redis RESP2/RESP3): kReconnectRounds in a row through strata, fewer against
            # Redis (which proves the workload).
            rounds = kReconnectRounds if srv is not redis_direct else 12
            workloads.append((f"pub/sub reconnect x{rounds}",
                              ["node", "pubsub_reconnect.js", str(srv.port), str(rounds)], env))
        for lib, argv, wenv in workloads:
            code, out = run_workload(argv, wenv)
            ok = code == 0 and srv.alive()
            print(f"--- {lib} against {name} ({mode}): {'ok' if ok else 'FAILED'}")
            print("\n".join("    " + line for line in out.splitlines()), flush=True)
            if ok:
                passed += 1
            else:
                failed += 1
                if not srv.alive():
                    print(f"    {name} exited:\n{srv.log_tail()}")
    code = harness.finish(failed)
    failed += 1 if code and not failed else 0
    print(f"{passed} passed, {failed} failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
