#!/usr/bin/env bash
# The WebSocket channel on one strata (standalone: its keys in L1 only; the channel's cost is
# what is measured, not a tier's): `strata-bench ws` opens the subscribers, a writer thread
# sets keys under their prefix at a fixed rate over RESP, every delivery is timed from the
# write's ack. Prints, per run: deliveries/s, ack->receipt and send->receipt p50/p99, a write's
# last receipt (every subscriber has it), strata's CPU per delivery and the load generator's;
# then strata's resident memory per idle connection. The load generator shares the machine's
# cores with strata.
# Env: STRATA_BIN, STRATA_BENCH_BIN, WORKERS (2), RUNS ("10000:20:10 1000:200:10":
# subscribers:writes-per-s:seconds), IDLE (10000 connections), RECV (uring: how the load
# generator reads its subscribers; epoll: its older, costlier loop).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${STRATA_BIN:-build/release/proxy/strata}
bench=${STRATA_BENCH_BIN:-build/release/bench/strata-bench}
workers=${WORKERS:-2}
runs=${RUNS:-10000:20:10 1000:200:10}
recv=${RECV:-uring}
idle=${IDLE:-10000}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done; echo "port $1 not up"; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$(( $(echo "$runs $idle" | tr ' :' '\n\n' | sort -n | tail -1) + 100 ))
if [ "$(ulimit -n)" -lt "$need" ]; then
  echo "open-files limit $(ulimit -n) is below the $need connections need; lower RUNS/IDLE"; exit 2
fi
tmp=$(mktemp -d /tmp/strata-ws-bench-XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
start() {
  port=$(free_port); ws_port=$(free_port)
  printf '[websocket]\nport = %s\npublic_read = "bench:"\n' "$ws_port" > "$tmp/strata.toml"
  "$bin" --port "$port" --workers "$workers" --maxclients 100000 --config "$tmp/strata.toml" \
    >"$tmp/strata.log" 2>&1 &
  pid=$!; wait_port "$port"
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
for run in $runs; do
  IFS=: read -r subs rate secs <<<"$run"
  start
  echo "== fan-out: $subs subscribers on one prefix, $rate writes/s over 100 keys, ${secs}s ($workers workers)"
  "$bench" ws --port "$ws_port" --resp-port "$port" --conns "$subs" --rate "$rate" \
    --seconds "$secs" --pid "$pid" --recv "$recv" || echo "(not every delivery arrived in time: see above)"
  redis-cli -p "$port" info websocket | grep -E '^ws_(merged|slow_closes|fanout_us_p50|fanout_us_p99):' | tr -d '\r'
  stop
done
start
echo "== idle: $idle connections, each subscribed to a key of its own"
"$bench" ws --idle --port "$ws_port" --resp-port "$port" --conns "$idle" --pid "$pid"
stop
start
echo "== idle: $idle connections, no subscription"
"$bench" ws --idle --no-subscribe --port "$ws_port" --resp-port "$port" --conns "$idle" --pid "$pid"
stop
