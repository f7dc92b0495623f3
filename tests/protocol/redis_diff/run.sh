#!/usr/bin/env bash
# Differential check of RespParser against a real redis-server 7.0 (manual tool, not in ctest):
#   inline_diff.py  random inline lines with quotes/escapes/blanks: same arguments or same error
#   stream_diff.py  mutated pipelines of multibulk and inline commands: same number of commands
#                   run and the same protocol error text
# Usage: tests/protocol/redis_diff/run.sh [CASES]   (redis-server on a free loopback port)
set -euo pipefail
cases="${1:-2000}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../../.." && pwd)"
work="$(mktemp -d)"
pid_file="${work}/redis.pid"
cleanup() {
  if [[ -f "${pid_file}" ]]; then kill "$(cat "${pid_file}")" 2>/dev/null || true; fi
  rm -rf "${work}"
}
trap cleanup EXIT

c++ -std=c++2b -O2 -I"${root}" "${here}/driver.cc" "${root}"/protocol/*.cc -o "${work}/driver"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
redis-server --port "${port}" --bind 127.0.0.1 --dir "${work}" --save '' --appendonly no \
  --daemonize yes --pidfile "${pid_file}" --logfile "${work}/redis.log"
for _ in $(seq 50); do redis-cli -p "${port}" ping >/dev/null 2>&1 && break; sleep 0.1; done

python3 "${here}/inline_diff.py" "${work}/driver" "${port}" "${cases}" 7
python3 "${here}/stream_diff.py" "${work}/driver" "${port}" "${cases}" 1
