#!/usr/bin/env bash
# Evidence that `strata-bench load` is not the bottleneck: runs redis-benchmark and
# strata-bench load against the same throwaway redis-server for the same load, interleaved
# REPEATS times, and prints both throughputs, the ratio (load / redis-benchmark) and each
# client's own CPU time per request (less sensitive to a busy machine than throughput).
#
# usage: bench/compare_redis_benchmark.sh [path/to/strata-bench]
# env:   REQUESTS=1000000 CONNECTIONS=50 PIPELINE=16 KEYS=100000 VALUE=100 REPEATS=3 TESTS="set get"
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-${STRATA_BENCH_BIN:-$here/../build/bench/strata-bench}}"
requests="${REQUESTS:-1000000}"
connections="${CONNECTIONS:-50}"
pipeline="${PIPELINE:-16}"
keys="${KEYS:-100000}"
value="${VALUE:-100}"
repeats="${REPEATS:-3}"
tests="${TESTS:-set get}"

for tool in redis-server redis-benchmark redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
[[ -x "$bin" ]] || { echo "strata-bench not found at $bin" >&2; exit 2; }

dir="$(mktemp -d /tmp/strata_compare_XXXXXX)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --logfile "$dir/redis.log" &
redis_pid=$!
cleanup() { kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done

# Runs "$@", prints "<stdout>\t<user+sys seconds>" (bash's time, for the client process only).
timed() {
  local out t
  TIMEFORMAT='%U %S'
  { time "$@" >"$dir/out" 2>/dev/null; } 2>"$dir/time"
  read -r u s <"$dir/time"
  t="$(python3 -c "print($u + $s)")"
  out="$(cat "$dir/out")"
  printf '%s\t%s\n' "$out" "$t"
}

echo "same load: -c $connections -P $pipeline -r $keys -d $value -n $requests, redis-server 127.0.0.1:$port"
printf '%-4s %-3s %16s %16s %8s %20s %20s\n' test rep redis-benchmark strata-bench ratio \
  "rb client us/req" "sb client us/req"
declare -A ratios
for test in $tests; do
  if [[ "$test" == set ]]; then ratio="0:1"; else ratio="1:0"; fi
  for rep in $(seq "$repeats"); do
    rb="$(timed redis-benchmark -p "$port" -c "$connections" -P "$pipeline" -r "$keys" \
      -d "$value" -n "$requests" -t "$test" --csv)"
    rb_rps="$(printf '%s' "$rb" | grep -i "^\"$test\"" | cut -d, -f2 | tr -d '"')"
    rb_cpu="$(printf '%s' "$rb" | tail -n1 | cut -f2)"
    sb="$(timed "$bin" load --port "$port" --connections "$connections" --pipeline "$pipeline" \
      --keys "$keys" --dist uniform --value-size "$value" --requests "$requests" \
      --ratio "$ratio" --format csv --no-progress)"
    sb_rps="$(printf '%s' "$sb" | grep '^run,' | cut -d, -f8)"
    sb_cpu="$(printf '%s' "$sb" | tail -n1 | cut -f2)"
    python3 - "$test" "$rep" "$rb_rps" "$sb_rps" "$rb_cpu" "$sb_cpu" "$requests" <<'PY'
import sys
test, rep, rb, sb, rbc, sbc, n = sys.argv[1:]
rb, sb, rbc, sbc, n = float(rb), float(sb), float(rbc), float(sbc), float(n)
print(f"{test:<4} {rep:<3} {rb:16.0f} {sb:16.0f} {sb / rb:7.2f}x {rbc * 1e6 / n:20.3f} {sbc * 1e6 / n:20.3f}")
PY
    ratios[$test]+="$(python3 -c "print($sb_rps / $rb_rps)") "
  done
done
for test in $tests; do
  python3 - "$test" ${ratios[$test]} <<'PY'
import statistics, sys
test, values = sys.argv[1], [float(v) for v in sys.argv[2:]]
print(f"{test}: median throughput ratio strata-bench/redis-benchmark = {statistics.median(values):.2f}x")
PY
done
