#!/usr/bin/env bash
# The project's test command (the README's, and CI's):
#   1. release build, every test (unit + integration) with ctest;
#   2. ASan+UBSan build, every test again (integration runs strata under the sanitizers);
#   3. the fuzz targets for a bounded time (tests/fuzz/run_fuzz.sh).
# Env: STRATA_JOBS (build/test parallelism, default nproc), STRATA_SKIP_ASAN=1,
#      STRATA_ASAN_EXCLUDE (ctest -E regex for the sanitizer run; default: the adaptive-policy
#      accuracy simulations, ~80 s in release and past their 300 s timeout at -O0 under ASan --
#      they run in the release pass), STRATA_FUZZ_SECONDS (default 60; 0 skips fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${STRATA_JOBS:-$(nproc)}
fuzz_seconds=${STRATA_FUZZ_SECONDS:-60}
start=$(date +%s)
step() { echo; echo "=== $* (+$(( $(date +%s) - start ))s)"; }

# Integration tests cache node client libraries here (npm install happens in the test).
export STRATA_NODE_CACHE=${STRATA_NODE_CACHE:-$PWD/build/node_cache}

step "dependencies (Debian packages, only the missing ones)"
bash scripts/deps.sh test

step "release: configure + build"
cmake --preset release
cmake --build --preset release -j "$jobs"

step "release: ctest"
ctest --test-dir build/release --output-on-failure -j "$jobs"

if [ "${STRATA_SKIP_ASAN:-0}" != 1 ]; then
  step "asan+ubsan: configure + build"
  cmake --preset asan
  cmake --build --preset asan -j "$jobs"
  step "asan+ubsan: ctest"
  # halt_on_error: a sanitizer report fails the test that triggered it.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  STRATA_START_TIMEOUT_S=60 \
    ctest --test-dir build/asan --output-on-failure -j "$jobs" \
      -E "${STRATA_ASAN_EXCLUDE:-^Adaptive\.}"
fi

if [ "$fuzz_seconds" != 0 ]; then
  step "fuzz: ${fuzz_seconds}s per target"
  if [ -x tests/fuzz/run_fuzz.sh ] || [ -f tests/fuzz/run_fuzz.sh ]; then
    bash tests/fuzz/run_fuzz.sh "$fuzz_seconds"
  else
    echo "tests/fuzz/run_fuzz.sh not present yet: fuzzing skipped"
  fi
fi

step "all tests passed"
