#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 in build/fuzz and runs each for SECONDS (default 30)
# on a scratch copy of its seed corpus. Exits non-zero on the first crash, leak or failed
# invariant; the reproducer is left in build/fuzz/artifacts/.
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${root}/build/fuzz"

cmake -S "${root}" -B "${build}" -G Ninja -DSTRATA_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 >/dev/null
ninja -C "${build}" resp_parser_fuzz reply_scanner_fuzz sync_event_fuzz reply_shape_fuzz \
  ws_frame_fuzz http_upgrade_fuzz ws_message_fuzz utf8_fuzz pgoutput_fuzz base64_fuzz

mkdir -p "${build}/artifacts"
run() {
  local target="$1" seeds="$2" dict="$3"
  local work="${build}/corpus/${target}"
  mkdir -p "${work}"
  echo "== ${target}: ${seconds}s"
  local log="${build}/${target}.log"
  # New inputs go to the scratch dir (first argument); the checked-in seeds are only read.
  local status=0
  "${build}/tests/fuzz/${target}" -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -dict="${root}/tests/fuzz/${dict}" -artifact_prefix="${build}/artifacts/${target}-" \
    "${work}" "${root}/tests/fuzz/corpus/${seeds}" >"${log}" 2>&1 || status=$?
  grep -E 'Done [0-9]+ runs|stat::(number_of_executed|new_units|peak_rss)' "${log}" || true
  if [[ "${status}" != 0 ]]; then
    grep -v -E '^#[0-9]+' "${log}" | tail -n 40 >&2
    echo "FAIL: ${target} exited ${status} (log: ${log})" >&2
    exit 1
  fi
}
ninja -C "${build}" ws_token_fuzz
run ws_token_fuzz ws_token ws_token.dict
run resp_parser_fuzz resp resp.dict
run reply_scanner_fuzz reply resp.dict
run sync_event_fuzz sync sync.dict
run reply_shape_fuzz reply resp.dict
run ws_frame_fuzz ws_frame ws.dict
run http_upgrade_fuzz http_upgrade http.dict
run ws_message_fuzz ws_message ws_message.dict
run utf8_fuzz utf8 ws_message.dict
run pgoutput_fuzz pgoutput pgoutput.dict
run base64_fuzz base64 base64.dict
echo "fuzz: all targets ran ${seconds}s clean"
