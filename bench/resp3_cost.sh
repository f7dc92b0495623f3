#!/usr/bin/env bash
# RESP3 vs RESP2 on the L1-hit path: one strata in front of a redis-server, its keys in L1
# (prefilled through strata), GET-only load from `strata-bench load` with and without --resp3,
# rounds alternating (ABBA) at each pipeline depth. Prints strata's CPU per request for each
# protocol (all of its threads, from /proc/PID/task/*/schedstat) and the RESP3/RESP2 ratios: of
# the totals and the median of the per-round ratios (a shared machine's drift mostly cancels
# within a round).
# Servers on free loopback ports, killed at exit.
# Env: STRATA_BIN (build/release/proxy/strata), STRATA_BENCH_BIN (build/release/bench/strata-bench),
# ROUNDS (6), REQUESTS (400000), PIPELINES ("1 16"), CONNECTIONS (50), WORKERS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${STRATA_BIN:-build/release/proxy/strata}
bench=${STRATA_BENCH_BIN:-build/release/bench/strata-bench}
rounds=${ROUNDS:-6}
requests=${REQUESTS:-400000}
pipelines=${PIPELINES:-1 16}
connections=${CONNECTIONS:-50}
workers=${WORKERS:-1}
keys=10000
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# CPU time of all of strata's threads in ns (%.0f: awk's %d may stop at 2^31).
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {printf "%.0f", s}'; }
pids=()
tmp=$(mktemp -d /tmp/strata-resp3-cost-XXXXXX)
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done; echo "port $1 not up"; exit 1; }
redis_port=$(free_port)
redis-server --port "$redis_port" --save "" --appendonly no --dir "$tmp" >/dev/null 2>&1 &
pids+=($!); wait_port "$redis_port"
port=$(free_port)
"$bin" --port "$port" --workers "$workers" --upstream "127.0.0.1:$redis_port" >/dev/null 2>&1 &
pid=$!; pids+=($pid); wait_port "$port"
load() {  # pipeline, extra flags
  "$bench" load --target "127.0.0.1:$port" --connections "$connections" --pipeline "$1" \
    --requests "$requests" --keys "$keys" --dist uniform --ratio 1:0 --no-progress "${@:2}" >/dev/null
}
"$bench" load --target "127.0.0.1:$port" --keys "$keys" --prefill --requests 1000 --no-progress >/dev/null
hits() { redis-cli -p "$port" info strata | awk -F: '/^l1_hits:/ {print $2+0}'; }
results=()
for p in $pipelines; do
  for r in $(seq "$rounds"); do
    order="2 3"; [ $((r % 2)) = 0 ] && order="3 2"
    for v in $order; do
      flag=(); [ "$v" = 3 ] && flag=(--resp3)
      h0=$(hits); before=$(cpu_ns "$pid")
      load "$p" "${flag[@]}"
      after=$(cpu_ns "$pid"); h1=$(hits)
      results+=("$p $r $v $((after - before)) $((h1 - h0))")
    done
  done
done
python3 - "$requests" "${results[@]}" <<'PY'
import statistics, sys
requests = int(sys.argv[1])
rows = [r.split() for r in sys.argv[2:]]
by = {}
for p, r, v, ns, hits in rows:
    by.setdefault(int(p), {}).setdefault(int(r), {})[int(v)] = (int(ns), int(hits))
print(f"L1-hit GET, strata CPU per request (us), {requests} requests per run")
print("pipeline | RESP2 us/req | RESP3 us/req | RESP3/RESP2 (totals) | median of rounds | L1 hit share RESP2/RESP3")
for p, rounds in sorted(by.items()):
    ns2 = sum(v[2][0] for v in rounds.values()); ns3 = sum(v[3][0] for v in rounds.values())
    h2 = sum(v[2][1] for v in rounds.values()); h3 = sum(v[3][1] for v in rounds.values())
    n = requests * len(rounds)
    med = statistics.median(v[3][0] / v[2][0] for v in rounds.values())
    print(f"-P {p:<6} | {ns2 / n / 1e3:12.3f} | {ns3 / n / 1e3:12.3f} | {ns3 / ns2:20.3f} | "
          f"{med:16.3f} | {h2 / n:.3f} / {h3 / n:.3f}")
    print("  per round RESP3/RESP2: " + " ".join(f"{v[3][0] / v[2][0]:.3f}" for v in rounds.values()))
PY
