#!/usr/bin/env bash
# Installs the Debian 12 packages strata needs to build, test and demo. Idempotent: only
# missing packages are installed. Used by scripts/run.sh, scripts/test.sh and .ci/run.
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  liburing-dev libhiredis-dev libpq-dev libnats-dev libmimalloc-dev libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev libtomlplusplus-dev
  redis-server redis-tools postgresql nats-server
  clang-14 libclang-rt-14-dev python3 python3-redis nodejs npm
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "strata: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
