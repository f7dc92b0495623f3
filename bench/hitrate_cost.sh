#!/usr/bin/env bash
# What the hit-rate monitor costs: strata with sampling off (--hitrate-sample-shift 0) and on
# (the default, 1 key in 256), same load, rounds alternating; prints server CPU per request and
# throughput for each, and the ratios on/off: of the totals, and the median of the per-round
# ratios (each round's on and off run back to back, so a shared machine's drift mostly cancels).
# Then, if perf works, the monitor's share of the "on" server's CPU in one more run: the time
# spent under ClientConn::sample_access (all of the monitor's work), from call-graph samples.
# On a 2-core machine shared with the load generator the ratios swing by several percent from
# run to run; the perf share does not depend on what else the machine does.
# Servers on free loopback ports, killed at exit.
# Env: STRATA_BIN (default build/release/proxy/strata), ROUNDS (3), REQUESTS (1000000), PIPELINE (16).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${STRATA_BIN:-build/release/proxy/strata}
rounds=${ROUNDS:-3}
requests=${REQUESTS:-1000000}
pipeline=${PIPELINE:-16}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# CPU time of every thread of the process, in ns (/proc/PID/stat's ticks are 10 ms: too coarse
# for a few-percent difference).
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s += $1} END {printf "%d", s}'; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
start() {  # port, extra flags
  "$bin" --port "$1" --workers 1 --maxmemory 256mb "${@:2}" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "strata did not start"; exit 1
}
off_port=$(free_port); start "$off_port" --hitrate-sample-shift 0; off_pid=${pids[-1]}
on_port=$(free_port); start "$on_port"; on_pid=${pids[-1]}
for port in $off_port $on_port; do  # fill both with the same keys
  redis-benchmark -p "$port" -t set -n 200000 -r 100000 -d 100 -P 16 -c 50 -q >/dev/null 2>&1
done
declare -A cpu ops
for name in off on; do cpu[$name]=0; ops[$name]=0; done
round_ratios=()
for r in $(seq "$rounds"); do
  order="off on"; [ $((r % 2)) = 0 ] && order="on off"  # ABBA: drift cancels
  for name in $order; do
    if [ $name = off ]; then port=$off_port; pid=$off_pid; else port=$on_port; pid=$on_pid; fi
    before=$(cpu_ns "$pid")
    line=$(redis-benchmark -p "$port" -t get -n "$requests" -r 100000 -d 100 -P "$pipeline" -c 50 --csv 2>/dev/null | tail -1)
    after=$(cpu_ns "$pid")
    rps=$(echo "$line" | cut -d, -f2 | tr -d '"')
    cpu[$name]=$(python3 -c "print(${cpu[$name]} + ($after - $before) / 1e9)")
    ops[$name]=$(python3 -c "print(${ops[$name]} + $rps)")
    if [ $name = off ]; then off_rps=$rps; off_ns=$((after - before)); else on_rps=$rps; on_ns=$((after - before)); fi
  done
  round_ratios+=("$on_rps/$off_rps:$on_ns/$off_ns")
done
python3 - "$rounds" "$requests" "${cpu[off]}" "${cpu[on]}" "${ops[off]}" "${ops[on]}" "${round_ratios[@]}" "$pipeline" <<'PY'
import statistics, sys
rounds, requests = int(sys.argv[1]), int(sys.argv[2])
cpu_off, cpu_on, ops_off, ops_on = map(float, sys.argv[3:7])
def ratio(text):  # "on/off"
    on, off = map(float, text.split("/"))
    return on / off if off else 1.0
rows = sys.argv[7:7 + rounds]
tput = [ratio(r.split(":")[0]) for r in rows]
cpu = [ratio(r.split(":")[1]) for r in rows]
n = rounds * requests
us_off, us_on = cpu_off / n * 1e6, cpu_on / n * 1e6
print(f"hit-rate monitor cost, GET -P{sys.argv[7 + rounds]} -c 50, {rounds} rounds x {requests} requests")
print(f"sampling off: {ops_off/rounds:10.0f} req/s  {us_off:.3f} us CPU/request")
print(f"sampling on : {ops_on/rounds:10.0f} req/s  {us_on:.3f} us CPU/request")
print(f"on/off: throughput x{(ops_on/ops_off):.3f}, CPU per request x{(us_on/us_off):.3f}")
print(f"on/off, median of {len(tput)} rounds: throughput x{statistics.median(tput):.3f}, "
      f"CPU per request x{statistics.median(cpu):.3f}")
PY

if command -v perf >/dev/null && [ "${PERF:-1}" = 1 ]; then
  data=$(mktemp /tmp/strata-perf-XXXXXX)
  redis-benchmark -p "$on_port" -t get -n "$((requests * 3))" -r 100000 -d 100 -P "$pipeline" -c 50 -q >/dev/null 2>&1 &
  load=$!
  sleep 1
  if perf record -F 2000 --call-graph dwarf,16384 -p "$on_pid" -o "$data" -- sleep 3 >/dev/null 2>&1; then
    share=$(perf report -i "$data" --children --sort symbol --stdio 2>/dev/null |
      awk '/ClientConn::sample_access/ {gsub("%", "", $1); s += $1} END {printf "%.2f", s}')
    echo "perf: the monitor (ClientConn::sample_access and below) is ${share}% of the on server's CPU"
  fi
  wait "$load" || true
  rm -f "$data"
fi
