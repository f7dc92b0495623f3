#!/usr/bin/env bash
# Quick start: installs what is missing, builds strata (release) and starts it.
#   scripts/run.sh                 standalone, L1 only, on 127.0.0.1:6380
#   scripts/run.sh --with-redis    also starts a throwaway redis-server on 127.0.0.1:6379-ish
#                                  and runs strata in front of it
#   scripts/run.sh --demo          the full path: throwaway redis-server (L2), PostgreSQL (L3)
#                                  and nats-server on loopback, two strata instances with
#                                  config/strata.example.toml's policies kept coherent over NATS
#                                  (the one in front on 6380, the second on 6381), each with
#                                  a WebSocket channel, and web/chat.html served on loopback
#                                  (the URL to open is printed; chat: is written behind to
#                                  PostgreSQL)
#   scripts/run.sh -- --flags...   extra strata flags after "--" (see strata --help)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
with_redis=0
demo=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --with-redis) with_redis=1 ;;
    --demo) demo=1 ;;
    --) shift; extra+=("$@"); break ;;
    *) extra+=("$1") ;;
  esac
  shift
done
if [ $demo -eq 1 ]; then "$root/scripts/deps.sh" demo; else "$root/scripts/deps.sh" run; fi
cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$root/build/release" strata strata-bench >/dev/null
bin="$root/build/release/proxy/strata"
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
if [ $demo -eq 1 ]; then
  # PostgreSQL refuses to run as root: its throwaway cluster belongs to the postgres user then.
  dir=$(mktemp -d /tmp/strata-demo.XXXXXX)
  chmod 755 "$dir"
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  as_pg=()
  if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi
  mkdir "$dir/pg" && { [ ${#as_pg[@]} -eq 0 ] || chown postgres "$dir/pg"; }
  rport=$(free_port); pport=$(free_port); nport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  nats-server -a 127.0.0.1 -p "$nport" -l "$dir/nats.log" -P "$dir/nats.pid" &
  "${as_pg[@]}" "$pgbin/initdb" -D "$dir/pg" -U postgres --auth=trust >/dev/null
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/pg" -l "$dir/pg/log" -w \
    -o "-p $pport -k $dir/pg -c listen_addresses=127.0.0.1" start >/dev/null
  trap 'kill "$(cat "$dir/redis.pid")" "$(cat "$dir/nats.pid")" "$(cat "$dir/b.pid" 2>/dev/null)" "$(cat "$dir/http.pid" 2>/dev/null)" 2>/dev/null; "${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/pg" -m fast stop >/dev/null 2>&1; rm -rf "$dir"' EXIT
  # The WebSocket channel: a secret made now (the demo's only one), a port per instance.
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
  wport_a=$(free_port); wport_b=$(free_port); hport=$(free_port)
  for who in a b; do
    wport=$wport_a; [ $who = b ] && wport=$wport_b
    { sed -e "s/^upstream = .*/upstream = \"127.0.0.1:$rport\"/" \
          -e "s/port=5432/port=$pport/" \
          -e "s|^dir = .*|dir = \"$dir/journal-$who\"|" \
          -e '/^prefix = "chat:"/a sync = "update"  # demo: peers install each message at once' \
          "$root/config/strata.example.toml"
      printf '\n[websocket]\nport = %s\nbind = "127.0.0.1"\npath = "/ws"\nsecret = "%s"\n' \
             "$wport" "$secret"
    } > "$dir/strata-$who.toml"
  done
  # web/ served from a throwaway dir (links to the repo's files) with demo-config.json: the
  # first instance's URL and a token for chat: (HS256, signed here, valid 12 hours).
  mkdir "$dir/web"
  ln -s "$root/web/"* "$dir/web/"
  SECRET=$secret WS="ws://127.0.0.1:$wport_a/ws" python3 - > "$dir/web/demo-config.json" <<'PY'
import base64, hashlib, hmac, json, os, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(b'{"alg":"HS256","typ":"JWT"}')
claims = {"sub": "demo", "exp": int(time.time()) + 12 * 3600, "read": ["chat:"], "write": ["chat:"]}
body = b64(json.dumps(claims, separators=(",", ":")).encode())
mac = hmac.new(os.environ["SECRET"].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
print(json.dumps({"ws": os.environ["WS"], "token": f"{head}.{body}.{b64(mac)}"}))
PY
  python3 -m http.server --bind 127.0.0.1 --directory "$dir/web" "$hport" >"$dir/http.log" 2>&1 &
  echo $! > "$dir/http.pid"
  sport=6380
  for ((i = 0; i < ${#extra[@]}; i++)); do
    if [ "${extra[$i]}" = --port ] && [ $((i + 1)) -lt ${#extra[@]} ]; then sport=${extra[$((i + 1))]}; fi
  done
  "$bin" --config "$dir/strata-b.toml" --nats "nats://127.0.0.1:$nport" --port $((sport + 1)) \
    >"$dir/strata-b.log" 2>&1 &
  echo $! > "$dir/b.pid"
  echo "strata: redis-server on 127.0.0.1:$rport, PostgreSQL on 127.0.0.1:$pport," \
       "nats-server on 127.0.0.1:$nport; config $dir/strata-a.toml (policies user: chat:" \
       "stream: analytics:); a second strata on port $((sport + 1)) kept coherent over NATS" \
       "(try: redis-cli -p $sport set user:1 ann; redis-cli -p $((sport + 1)) get user:1)" >&2
  echo "chat: open http://127.0.0.1:$hport/chat.html in two tabs (WebSocket on 127.0.0.1:$wport_a);" \
       "http://127.0.0.1:$hport/chat.html?ws=ws://127.0.0.1:$wport_b/ws talks through the second" \
       "instance. Messages are keys chat:lobby:..., written behind to PostgreSQL (psql -h 127.0.0.1" \
       "-p $pport -U postgres -c 'select key, version from strata_kv'); \"cut connection\" drops a" \
       "tab's WebSocket and it resumes. Ctrl-C stops everything and removes $dir" >&2
  "$bin" --config "$dir/strata-a.toml" --nats "nats://127.0.0.1:$nport" "${extra[@]}"
elif [ $with_redis -eq 1 ]; then
  dir=$(mktemp -d /tmp/strata-demo.XXXXXX)
  port=$(free_port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
  echo "strata: redis-server on 127.0.0.1:$port (data in $dir)" >&2
  "$bin" --upstream "127.0.0.1:$port" "${extra[@]}"
else
  exec "$bin" "${extra[@]}"
fi
