#!/usr/bin/env bash
# CLIENT TRACKING on vs off on the L1-hit path: strata in front of a redis-server, its keys in
# L1 (prefilled through strata), GET-only RESP3 load from `strata-bench load` with and without
# --tracking, rounds alternating (ABBA) at each pipeline depth. Prints strata's CPU per request
# in the measured phase (utime+stime of /proc/PID/stat, as `strata-bench load --pid-a` reports
# it) with tracking off and on, and the on/off ratios: of the totals and the median of the
# per-round ratios (a shared machine's drift mostly cancels within a round).
# Two workloads, each run on new connections (new tracking clients):
# - first: KEYS_FIRST (10000) keys, no warmup: most reads are a client's first read of a key
#   (recorded in the tracking table), the rest repeats;
# - repeat: KEYS_REPEAT (1000) keys after WARMUP (2) s on the same connections: a client reads
#   keys it already tracks.
# BASE_BIN, another strata binary (say, main's build), is measured in the same rounds beside
# STRATA_BIN, each in front of its own redis-server, so that the two ratios can be compared.
# TOGETHER=1 (the default): each build runs as two instances, and a round loads them at the same
# time for DURATION seconds, one with tracking and one without (swapped every round): on a
# machine shared with other work, both then see the same interference, which alternating runs
# seconds apart do not. TOGETHER=0: one instance, off and on one after the other (ABBA), each
# run REQUESTS requests.
# Servers on free loopback ports, killed at exit.
# Env: STRATA_BIN (build/release/proxy/strata), BASE_BIN (none),
# STRATA_BENCH_BIN (build/release/bench/strata-bench), ROUNDS (4), TOGETHER (1), DURATION (3),
# REQUESTS (400000), PIPELINES ("1 16"), WORKLOADS ("first repeat"), CONNECTIONS (50),
# WORKERS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${STRATA_BIN:-build/release/proxy/strata}
base=${BASE_BIN:-}
bench=${STRATA_BENCH_BIN:-build/release/bench/strata-bench}
rounds=${ROUNDS:-4}
requests=${REQUESTS:-400000}
together=${TOGETHER:-1}
duration=${DURATION:-3}
pipelines=${PIPELINES:-1 16}
workloads=${WORKLOADS:-first repeat}
connections=${CONNECTIONS:-50}
workers=${WORKERS:-1}
keys_first=${KEYS_FIRST:-10000}
keys_repeat=${KEYS_REPEAT:-1000}
warmup=${WARMUP:-2}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
tmp=$(mktemp -d /tmp/strata-tracking-cost-XXXXXX)
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done; echo "port $1 not up"; exit 1; }
# Starts a redis-server and a strata (binary $2) in front of it, its keys prefilled; sets
# ports[$1] and spids[$1].
declare -A ports spids
start() {
  local rport port
  rport=$(free_port)
  mkdir -p "$tmp/$1"
  redis-server --port "$rport" --save "" --appendonly no --dir "$tmp/$1" >/dev/null 2>&1 &
  pids+=($!); wait_port "$rport"
  port=$(free_port)
  "$2" --port "$port" --workers "$workers" --upstream "127.0.0.1:$rport" >/dev/null 2>&1 &
  spids[$1]=$!; pids+=($!); wait_port "$port"
  ports[$1]=$port
  local k=$keys_first; [ "$keys_repeat" -gt "$k" ] && k=$keys_repeat
  "$bench" load --target "127.0.0.1:$port" --keys "$k" --prefill --requests 1000 \
    --no-progress >/dev/null 2>&1
}
builds=(new)
[ -n "$base" ] && builds=(base new)
for b in "${builds[@]}"; do
  b_bin=$bin; [ "$b" = base ] && b_bin=$base
  start "$b" "$b_bin"
  [ "$together" = 1 ] && start "$b.2" "$b_bin"
done
# One run; prints "cpu_us_per_request l1_hits requests" of its measured phase.
load() {  # instance, pipeline, workload, extra flags
  local keys=$keys_first wu=0 amount=(--requests "$requests")
  [ "$3" = repeat ] && keys=$keys_repeat wu=$warmup
  [ "$together" = 1 ] && amount=(--duration "$duration")
  "$bench" load --target "127.0.0.1:${ports[$1]}" --pid-a "${spids[$1]}" --connections \
    "$connections" --pipeline "$2" "${amount[@]}" --warmup "$wu" --keys "$keys" \
    --dist uniform --ratio 1:0 --resp3 --no-progress --format csv "${@:4}" |
    awk -F, '$1 == "run" {print $22, $21, $5}'
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (before)" >&2
results=()
for w in $workloads; do
  for p in $pipelines; do
    for r in $(seq "$rounds"); do
      order="off on"; [ $((r % 2)) = 0 ] && order="on off"
      for b in "${builds[@]}"; do
        if [ "$together" = 1 ]; then
          off=$b on=$b.2; [ $((r % 2)) = 0 ] && off=$b.2 on=$b
          load "$off" "$p" "$w" >"$tmp/off" & a=$!
          load "$on" "$p" "$w" --tracking >"$tmp/on" & c=$!
          wait "$a" "$c"
          results+=("$w $b $p $r off $(cat "$tmp/off")" "$w $b $p $r on $(cat "$tmp/on")")
          continue
        fi
        for v in $order; do
          flag=(); [ "$v" = on ] && flag=(--tracking)
          results+=("$w $b $p $r $v $(load "$b" "$p" "$w" "${flag[@]}")")
        done
      done
    done
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (after)" >&2
per_run="$requests requests per run"
[ "$together" = 1 ] && per_run="off and on loaded together, $duration s per run"
python3 - "$per_run" "$connections" "$keys_first" "$keys_repeat" "${results[@]}" <<'PY'
import statistics, sys
per_run = sys.argv[1]
connections, keys_first, keys_repeat = (int(a) for a in sys.argv[2:5])
by = {}
for row in sys.argv[5:]:
    w, b, p, r, v, us, hits, n = row.split()
    by.setdefault((w, int(p), b), {}).setdefault(int(r), {})[v] = (float(us), int(hits), int(n))
print(f"L1-hit GET (RESP3), strata CPU per request (us), CLIENT TRACKING off vs on; "
      f"{per_run}, {connections} connections, keys uniform "
      f"(first: {keys_first} keys; repeat: {keys_repeat} keys after a warmup)")
print("workload | build | pipeline | off us/req | on us/req | on/off (mean) | median of rounds | "
      "L1 hit share off/on")
for (w, p, b), rounds in sorted(by.items(), key=lambda kv: (kv[0][0] != "first",) + kv[0][1:]):
    off = statistics.mean(v["off"][0] for v in rounds.values())
    on = statistics.mean(v["on"][0] for v in rounds.values())
    med = statistics.median(v["on"][0] / v["off"][0] for v in rounds.values())
    share = lambda m: sum(v[m][1] for v in rounds.values()) / sum(v[m][2] for v in rounds.values())
    print(f"{w:<8} | {b:<5} | -P {p:<5} | {off:10.3f} | {on:9.3f} | {on / off:13.3f} | "
          f"{med:16.3f} | {share('off'):.3f} / {share('on'):.3f}")
    print("  per round on/off: " + " ".join(f"{v['on'][0] / v['off'][0]:.3f}" for v in rounds.values()))
PY
