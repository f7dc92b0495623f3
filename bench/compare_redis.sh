#!/usr/bin/env bash
# strata vs redis-server under redis-benchmark, measured in the same run, targets alternating:
#   redis            redis-server directly (the baseline)
#   strata           strata standalone (L1 only)
#   strata+upstream  strata --upstream <the same redis> (L1 in front of Redis, writes through)
#   pass-through     strata --upstream <the same redis> --l1-enabled false (every command relayed)
#   floor            `strata-bench floor`: answers from constants with strata's kernel path (io_uring,
#                    one recv and one send per request and socket), no data: the CPU-per-request
#                    floor of loopback TCP on this machine, printed beside the CPU verdicts
# for SET then GET, pipelines of 1 and 16, 50 clients, 100000 random keys, 100-byte values.
# Prints throughput, p50, p99, server CPU per request (utime+stime from /proc/PID/stat) and
# strata/redis ratios, then the verdicts of issue 2's targets: on L1 hits (strata standalone)
# CPU per request <= 0.67x redis-server's, throughput >= redis's and p99 no higher; pass-through
# throughput >= 0.85x redis's. Servers run on free loopback ports in temp dirs, killed at exit.
#
# Env: STRATA_BIN (default build/release/proxy/strata), STRATA_BENCH_BIN (default: strata-bench
#      next to it in the build tree; the floor target is left out if it is missing), BENCH_SECONDS per measurement (5),
#      BENCH_ROUNDS (1; >1 keeps each target's best round), STRATA_WORKERS (1: redis is
#      single-threaded), STRATA_ARGS (extra strata flags, e.g. "--io epoll"),
#      BENCH_OUT (directory for raw CSV; default a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."

strata_bin=${STRATA_BIN:-build/release/proxy/strata}
seconds=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-1}
workers=${STRATA_WORKERS:-1}
clients=50
keyspace=100000
value_bytes=100
calibrate_requests=50000
ready_timeout_s=20

for tool in redis-server redis-benchmark redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install redis-tools redis-server)"; exit 2; }
done
[ -x "$strata_bin" ] || { echo "no strata binary at $strata_bin (set STRATA_BIN)"; exit 2; }
strata_bin=$(realpath "$strata_bin")  # servers start inside their own temp dirs
bench_bin=${STRATA_BENCH_BIN:-$(dirname "$strata_bin")/../bench/strata-bench}

work=$(mktemp -d /tmp/strata-bench-XXXXXX)
out=${BENCH_OUT:-$work}
mkdir -p "$out"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_ready() {  # port pid
  local deadline=$((SECONDS + ready_timeout_s))
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "$2" 2>/dev/null || return 1
    [ "$(redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  return 1
}

start() {  # name, then argv; sets port_<name> and pid_<name>
  local name=$1; shift
  local port; port=$(free_port)
  local dir="$work/$name"; mkdir -p "$dir"
  (cd "$dir" && exec "$@" --port "$port" >"$dir/log" 2>&1) &
  local pid=$!
  pids+=("$pid")
  if ! wait_ready "$port" "$pid"; then
    echo "$name did not start; log:"; tail -20 "$dir/log"; exit 1
  fi
  printf -v "port_$name" %s "$port"
  printf -v "pid_$name" %s "$pid"
}

cpu_ticks() {  # pid -> utime+stime in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

start redis redis-server --bind 127.0.0.1 --save '' --appendonly no --dir "$work/redis"
read -r -a strata_args <<<"${STRATA_ARGS:-}"
start strata "$strata_bin" --bind 127.0.0.1 --workers "$workers" "${strata_args[@]}"
start proxy "$strata_bin" --bind 127.0.0.1 --workers "$workers" "${strata_args[@]}" \
  --upstream "127.0.0.1:$port_redis"
start passthru "$strata_bin" --bind 127.0.0.1 --workers "$workers" "${strata_args[@]}" \
  --upstream "127.0.0.1:$port_redis" --l1-enabled false
targets=(redis strata proxy passthru)
if [ -x "$bench_bin" ]; then
  start floor "$(realpath "$bench_bin")" floor --value-bytes "$value_bytes"
  targets+=(floor)
else
  echo "# no strata-bench at $bench_bin: the floor target is left out"
fi
declare -A label=([redis]=redis [strata]=strata [proxy]=strata+upstream [passthru]=pass-through
                  [floor]=floor)
ticks_per_s=$(getconf CLK_TCK)

bench() {  # target test pipeline requests -> one CSV line: rps,p50,p99,cpu_us_per_req,upstream_cpu
  local t=$1 test=$2 pipe=$3 n=$4
  local port_var=port_$t pid_var=pid_$t
  local c0 u0 c1 u1 line
  c0=$(cpu_ticks "${!pid_var}"); u0=$(cpu_ticks "$pid_redis")
  # stderr to a log: redis-benchmark warns that strata has no CONFIG command.
  line=$(redis-benchmark -h 127.0.0.1 -p "${!port_var}" -t "$test" -n "$n" -c "$clients" \
           -r "$keyspace" -d "$value_bytes" -P "$pipe" --csv 2>>"$work/benchmark.err" | tail -1)
  case $line in
    \"${test^^}\"*) ;;
    *) echo "redis-benchmark failed against $t:" >&2; tail -5 "$work/benchmark.err" >&2; exit 1 ;;
  esac
  c1=$(cpu_ticks "${!pid_var}"); u1=$(cpu_ticks "$pid_redis")
  echo "$line" >>"$out/raw_${t}_${test}_P${pipe}.csv"
  python3 - "$line" "$((c1 - c0))" "$((u1 - u0))" "$n" "$ticks_per_s" "$t" <<'EOF'
import csv, sys
row = next(csv.reader([sys.argv[1]]))
ticks, up_ticks, n, hz, target = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
cpu = ticks / hz * 1e6 / n
up = up_ticks / hz * 1e6 / n if target in ("proxy", "passthru") else 0.0
print(f"{float(row[1]):.0f},{row[4]},{row[6]},{cpu:.3f},{up:.3f}")
EOF
}

echo "# strata vs redis: $clients clients, -r $keyspace, -d $value_bytes, ~${seconds}s each," \
     "$rounds round(s), strata --workers $workers ${STRATA_ARGS:-}, $(nproc) cores (client shares them)"
results="$out/results.csv"
echo "test,pipeline,target,rps,p50_ms,p99_ms,cpu_us_per_req,upstream_cpu_us_per_req" >"$results"
for pipe in 1 16; do
  for test in set get; do
    # Size -n from a short run on redis so each measurement lasts about $seconds.
    cal=$(bench redis "$test" "$pipe" "$calibrate_requests")
    n=$(python3 -c "print(max(10000, int(float('${cal%%,*}') * $seconds)))")
    declare -A best=()
    for ((r = 0; r < rounds; r++)); do
      for t in "${targets[@]}"; do
        line=$(bench "$t" "$test" "$pipe" "$n")
        if [ -z "${best[$t]:-}" ] || [ "${line%%,*}" -gt "${best[$t]%%,*}" ]; then best[$t]=$line; fi
      done
    done
    for t in "${targets[@]}"; do echo "${test^^},$pipe,${label[$t]},${best[$t]}" >>"$results"; done
    unset best
  done
done

python3 - "$results" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
base = {(r["test"], r["pipeline"]): r for r in rows if r["target"] == "redis"}
hdr = f"{'test':5} {'P':>3} {'target':16} {'ops/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'cpu us/op':>9}" \
      f" {'x ops/s':>8} {'x p50':>6} {'x p99':>6} {'x cpu':>6}"
print(hdr)
print("-" * len(hdr))
ratio = lambda a, b: f"{float(a) / float(b):.2f}" if float(b) else "-"
for r in rows:
    b = base[(r["test"], r["pipeline"])]
    cpu = r["cpu_us_per_req"]
    relays = r["target"] in ("strata+upstream", "pass-through")
    extra = f"  (+{float(r['upstream_cpu_us_per_req']):.2f} upstream)" if relays else ""
    print(f"{r['test']:5} {r['pipeline']:>3} {r['target']:16} {float(r['rps']):>10.0f} {float(r['p50_ms']):>7.3f}"
          f" {float(r['p99_ms']):>7.3f} {float(cpu):>9.2f} {ratio(r['rps'], b['rps']):>8}"
          f" {ratio(r['p50_ms'], b['p50_ms']):>6} {ratio(r['p99_ms'], b['p99_ms']):>6}"
          f" {ratio(cpu, b['cpu_us_per_req']):>6}{extra}")
print("ratios (x ...) are strata/redis for the same test and pipeline; cpu is server CPU per request")

# Issue 2's targets, one verdict per test and pipeline.
kCpuMax, kPassThroughMin = 0.67, 0.85
by = {(r["test"], r["pipeline"], r["target"]): r for r in rows}
verdicts = []
print()
print("verdicts (issue 2):")
for (test, pipe), b in base.items():
    s = by.get((test, pipe, "strata"))
    if s:
        cpu = float(s["cpu_us_per_req"]) / float(b["cpu_us_per_req"]) if float(b["cpu_us_per_req"]) else 0
        thr = float(s["rps"]) / float(b["rps"])
        p99 = float(s["p99_ms"]) / float(b["p99_ms"]) if float(b["p99_ms"]) else 1
        ok = cpu <= kCpuMax and thr >= 1 and p99 <= 1
        verdicts.append(ok)
        f = by.get((test, pipe, "floor"))
        floor = (f"  [floor cpu x{float(f['cpu_us_per_req']) / float(b['cpu_us_per_req']):.2f}]"
                 if f and float(b["cpu_us_per_req"]) else "")
        print(f"  {'PASS' if ok else 'FAIL'}  L1 hits      {test:3} P{pipe:<3} cpu x{cpu:.2f} (<= {kCpuMax})"
              f"  ops/s x{thr:.2f} (>= 1)  p99 x{p99:.2f} (<= 1){floor}")
    t = by.get((test, pipe, "pass-through"))
    if t:
        thr = float(t["rps"]) / float(b["rps"])
        ok = thr >= kPassThroughMin
        verdicts.append(ok)
        print(f"  {'PASS' if ok else 'FAIL'}  pass-through {test:3} P{pipe:<3} ops/s x{thr:.2f} (>= {kPassThroughMin})")
print(f"  {sum(verdicts)}/{len(verdicts)} targets met")
if any(r["target"] == "floor" for r in rows):
    print("  floor: a constant-answer server on the same kernel path; no server answering each")
    print("  request with its own send gets below its CPU per request on this machine")
EOF
echo "raw CSV: $out (kept only if BENCH_OUT was set)"
