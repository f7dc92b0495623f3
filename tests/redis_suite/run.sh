#!/usr/bin/env bash
# Runs Redis 7.0.15's own test suite (tests/runtest, external-server mode) against strata:
#   proxy       strata --upstream R, R a redis-server started here with the suite's default.conf
#   standalone  strata alone (string and keyspace units; other types are not served standalone)
#   baseline    R itself, same units: a test failing there is not strata's problem
# Each mode gets fresh servers on free loopback ports in a temp dir, all killed at exit.
# Tests listed in skip.txt (next to this script) are not run, each with its reason there.
# Exit: 0 all ran tests passed, 1 a failure, 77 SKIP (the source tarball or tclsh is missing;
# ctest reports 77 as skipped), 2 bad usage.
#
#   tests/redis_suite/run.sh [--strata BIN] [--mode MODES] (proxy,standalone,baseline; all;
#                            default proxy,standalone)
#                            [--units "unit/a unit/b"] [--extended] [--keep] [--verbose]
# Env: STRATA_BIN (default build/release/proxy/strata, else build/proxy/strata),
# REDIS_SUITE_CACHE (tarball + unpacked tree, default /tmp/strata-redis-suite), REDIS_SERVER
# (default redis-server from PATH), REDIS_SUITE_URL (the tarball's address).
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
kVersion=7.0.15
kTarball="redis_${kVersion}.orig.tar.gz"
kUrl="${REDIS_SUITE_URL:-http://deb.debian.org/debian/pool/main/r/redis/${kTarball}}"
kSha256=4b1dc4ee6d622a09fff9c6777191209750fb5e5a725ef78ea012d6eef4c22982
kTestTimeoutS=120  # per test; a hang ends the run as a failure instead of blocking CI

# Units run in each mode. Core: what strata serves or routes itself (strings, keyspace, expiry,
# protocol, transactions, auth, info). Extended (--extended, proxy only): forwarded types and
# features, to catch routing mistakes.
core_proxy="unit/type/string unit/type/incr unit/expire unit/keyspace unit/protocol unit/multi
  unit/auth unit/quit unit/info-command unit/scan unit/pubsub unit/tracking unit/scripting
  unit/functions"
extended_proxy="unit/printver unit/dump unit/info unit/type/list unit/type/list-2
  unit/type/list-3 unit/type/set unit/type/zset unit/type/hash unit/type/stream
  unit/type/stream-cgroups unit/sort unit/other unit/latency-monitor unit/pubsubshard
  unit/slowlog unit/introspection-2 unit/bitops unit/bitfield
  unit/geo unit/hyperloglog unit/lazyfree unit/querybuf unit/limits"
# unit/scripting and unit/functions: their Timedout/kill tests run a script past
# busy-reply-threshold through strata while other clients get BUSY, and SCRIPT/FUNCTION KILL
# reach Redis (strata's slow-command lane). unit/tracking runs against strata's own CLIENT
# TRACKING (what Redis alone can know is in skip.txt). Not run: units that need a local server
# process, replication or cluster.
core_standalone="unit/type/string unit/type/incr unit/expire unit/keyspace unit/protocol
  unit/quit unit/info-command"
# Standalone strata has no DEBUG, CONFIG, replication, SAVE or latency monitor: tests tagged
# as needing them cannot run there (in proxy mode these commands are forwarded to Redis).
standalone_tags="-needs:debug -needs:repl -needs:config-maxmemory -needs:config-resetstat
  -needs:save -needs:pfdebug -needs:latency"

strata_bin="${STRATA_BIN:-}"
if [ -z "$strata_bin" ]; then
  strata_bin="$root/build/release/proxy/strata"
  [ -x "$strata_bin" ] || strata_bin="$root/build/proxy/strata"
fi
mode=proxy,standalone
units=""
extended=0
keep=0
verbose=0
while [ $# -gt 0 ]; do
  case "$1" in
    --strata) strata_bin="$2"; shift 2 ;;
    --mode) mode="$2"; shift 2 ;;
    --units) units="$2"; shift 2 ;;
    --extended) extended=1; shift ;;
    --keep) keep=1; shift ;;
    --verbose) verbose=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$mode" = all ] && mode=proxy,standalone,baseline
for m in ${mode//,/ }; do
  case "$m" in proxy|standalone|baseline) ;; *) echo "run.sh: bad --mode $m" >&2; exit 2 ;; esac
done

skip() { echo "SKIP: Redis test suite: $*"; exit 77; }
command -v tclsh >/dev/null || skip "tclsh not installed (Debian package tcl)"
redis_server="${REDIS_SERVER:-$(command -v redis-server || true)}"
[ -n "$redis_server" ] || skip "redis-server not installed"
[ -x "$strata_bin" ] || { echo "run.sh: strata binary $strata_bin not found" >&2; exit 2; }

# --- the suite's source, fetched once and cached
cache="${REDIS_SUITE_CACHE:-/tmp/strata-redis-suite}"
mkdir -p "$cache"
src="$cache/redis-$kVersion"
if [ ! -f "$src/tests/test_helper.tcl" ]; then
  if [ ! -f "$cache/$kTarball" ]; then
    curl -sSf --max-time 120 -o "$cache/$kTarball.part" "$kUrl" 2>"$cache/curl.err" ||
      skip "cannot fetch $kUrl ($(tr '\n' ' ' < "$cache/curl.err"))"
    mv "$cache/$kTarball.part" "$cache/$kTarball"
  fi
  echo "$kSha256  $cache/$kTarball" | sha256sum -c --quiet - ||
    { rm -f "$cache/$kTarball"; skip "$kTarball checksum mismatch (removed; retry)"; }
  tar -xzf "$cache/$kTarball" -C "$cache" || skip "cannot unpack $kTarball"
fi

work="$(mktemp -d /tmp/strata-redis-suite.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ "$keep" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {  # port pid: until the server answers PING
  for _ in $(seq 1 100); do
    kill -0 "$2" 2>/dev/null || return 1
    [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  return 1
}

start_redis() {  # dir -> sets redis_port
  mkdir -p "$1"
  redis_port=$(free_port)
  "$redis_server" "$src/tests/assets/default.conf" --port "$redis_port" --dir "$1" \
    --save '' --pidfile "$1/redis.pid" --logfile "$1/redis.log" --daemonize no &
  pids+=($!)
  wait_port "$redis_port" $! || { echo "redis-server did not start ($1/redis.log)"; return 1; }
}

start_strata() {  # dir [flags...] -> sets strata_port, strata_pid, strata_dir
  strata_dir="$1"; shift
  mkdir -p "$strata_dir"
  strata_port=$(free_port)
  (cd "$strata_dir" && exec "$strata_bin" --port "$strata_port" --workers 2 "$@") \
    > "$strata_dir/strata.log" 2>&1 &
  strata_pid=$!
  pids+=($strata_pid)
  wait_port "$strata_port" $strata_pid ||
    { echo "strata did not start ($strata_dir/strata.log)"; return 1; }
}

# After a mode: strata must still be running; it is stopped (SIGTERM) so that a sanitizer build
# reports leaks, and its log must hold no sanitizer report.
check_strata() {  # mode
  local bad=""
  kill -0 "$strata_pid" 2>/dev/null || bad="strata exited during the run"
  kill "$strata_pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$strata_pid" 2>/dev/null || break; sleep 0.1; done
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|ThreadSanitizer' "$strata_dir/strata.log"; then
    bad="${bad:+$bad; }sanitizer report in strata's log"
  fi
  [ -z "$bad" ] && return 0
  failures=$((failures + 1))
  summary+=("$1: $bad")
  echo "=== $1: $bad; strata's log ends:"
  tail -40 "$strata_dir/strata.log"
}

# skip.txt lines: "<modes>|<test name or /regexp>|<reason>"; modes is proxy, standalone,
# baseline or a comma list. Writes the names for one mode, one a line (runtest --skipfile).
skipfile_for() {
  grep -v '^[[:space:]]*\(#\|$\)' "$here/skip.txt" | awk -F'|' -v m="$1" '
    { n = split($1, ms, ",")
      for (i = 1; i <= n; i++) if (ms[i] == m || ms[i] == "all") { print $2; break } }'
}

# The suite (runtest) from its copy for mode m, against port, skipping skip.txt's tests for m.
# The suite's own ports (its test server listens at baseport-32.., and probes port+10000) come
# from 10100-18099: below the integration tests' 20000-32000 and Linux's ephemeral range, so
# tests running beside it do not take a port between the suite's probe and its bind.
runtest() {  # mode tree port [runtest args...]
  local m="$1" tree="$2" port="$3"; shift 3
  (cd "$tree" && exec tclsh tests/test_helper.tcl --host 127.0.0.1 --port "$port" --singledb \
    --durable --timeout "$kTestTimeoutS" --baseport $((10100 + RANDOM % 8000)) \
    --skipfile "$work/$m/skip.names" "$@")
}

failures=0
summary=()
run_suite() {  # mode port unit-list [runtest args...]
  local m="$1" port="$2" list="$3"; shift 3
  local tree="$work/$m/suite" log="$work/$m/runtest.log" args=()
  # runtest writes under tests/tmp and must run from the source root: one copy per mode.
  mkdir -p "$tree" && cp -r "$src/." "$tree/"
  skipfile_for "$m" > "$work/$m/skip.names"
  for u in $list; do args+=(--single "$u"); done
  local start=$SECONDS
  local rc attempt
  for attempt in 1 2; do
    runtest "$m" "$tree" "$port" "${args[@]}" "$@" > "$log" 2>&1
    rc=$?
    # A port lost to another process in that window stops the suite before any test ran:
    # that is set-up, not a result, so it is tried once more on other ports.
    grep -q "couldn't open socket: address already in use" "$log" &&
      ! grep -qE '\[(ok|err|exception|ignore|skip)\]' "$log" || break
    echo "=== $m: the suite's test-server port was taken before it bound it; again"
  done
  sed -i 's/\x1b\[[0-9;]*m//g' "$log"
  local ok err ign
  ok=$(grep -c '^\[ok\]' "$log")
  err=$(grep -cE '^\[(err|exception)\]|^\[TIMEOUT\]' "$log")
  ign=$(grep -cE '^\[(ignore|skip)\]' "$log")
  # A failure is a failure: a test that fails by chance is a race to find and fix (or, where
  # strata cannot behave as Redis does, a line in skip.txt with the reason), never retried.
  local failed=0
  if [ "$rc" != 0 ] || [ "$err" != 0 ] || ! grep -q 'All tests passed without errors' "$log"; then
    failed=1
  fi
  summary+=("$m: $ok passed, $err failed, $ign skipped/ignored ($((SECONDS - start)) s)")
  if [ "$failed" = 1 ]; then
    failures=$((failures + 1))
    echo "=== $m: FAILED (runtest exit $rc); failures:"
    grep -E -A4 '^\[(err|exception)\]|^\[TIMEOUT\]|Executing test client|couldn.t' "$log" |
      cut -c1-300 | head -150
  fi
  [ "$verbose" = 1 ] && cat "$log"
  echo "--- $m: ${summary[-1]#*: }"
}

want() { [[ ",$mode," == *",$1,"* ]]; }

if want proxy; then
  start_redis "$work/proxy/redis" || exit 1
  # The suite runs commands that take seconds (DEBUG SLEEP, long EVALs) on what may be a loaded
  # machine: strata's default 5 s upstream reply timeout would cut the connection under them.
  start_strata "$work/proxy/strata" --upstream "127.0.0.1:$redis_port" \
    --upstream-reply-timeout-ms 60000 || exit 1
  list="${units:-$core_proxy}"
  [ "$extended" = 1 ] && [ -z "$units" ] && list="$list $extended_proxy"
  run_suite proxy "$strata_port" "$list"
  check_strata proxy
fi
if want standalone; then
  start_strata "$work/standalone/strata" || exit 1
  list="${units:-$core_standalone}"
  # shellcheck disable=SC2086
  run_suite standalone "$strata_port" "$list" --tags "$(echo $standalone_tags)"
  check_strata standalone
fi
if want baseline; then
  start_redis "$work/baseline/redis" || exit 1
  list="${units:-$core_proxy}"
  [ "$extended" = 1 ] && [ -z "$units" ] && list="$list $extended_proxy"
  run_suite baseline "$redis_port" "$list"
fi

printf '%s\n' "${summary[@]}"
if [ "$failures" != 0 ]; then
  echo "FAIL: Redis $kVersion test suite: $failures mode(s) with failures not in skip.txt"
  exit 1
fi
echo "PASS: Redis $kVersion test suite"
