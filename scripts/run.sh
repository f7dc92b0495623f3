#!/usr/bin/env bash
# Quick start: installs what is missing, builds strata (release) and starts it.
#   scripts/run.sh                 standalone, L1 only, on 127.0.0.1:6380
#   scripts/run.sh --with-redis    also starts a throwaway redis-server on 127.0.0.1:6379-ish
#                                  and runs strata in front of it
#   scripts/run.sh -- --flags...   extra strata flags after "--" (see strata --help)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
with_redis=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --with-redis) with_redis=1 ;;
    --) shift; extra+=("$@"); break ;;
    *) extra+=("$1") ;;
  esac
  shift
done
"$root/scripts/deps.sh" run
cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$root/build/release" strata strata-bench >/dev/null
bin="$root/build/release/proxy/strata"
if [ $with_redis -eq 1 ]; then
  dir=$(mktemp -d /tmp/strata-demo.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
  echo "strata: redis-server on 127.0.0.1:$port (data in $dir)" >&2
  "$bin" --upstream "127.0.0.1:$port" "${extra[@]}"
else
  exec "$bin" "${extra[@]}"
fi
