#!/usr/bin/env bash
# Installs the Debian 12 packages strata needs, only those missing. Idempotent.
#   scripts/deps.sh run    what building and running strata needs (scripts/run.sh)
#   scripts/deps.sh demo   plus PostgreSQL (scripts/run.sh --demo)
#   scripts/deps.sh test   plus what the whole test suite needs (scripts/test.sh, .ci/run)
set -euo pipefail
profile=${1:-run}
packages=(
  build-essential cmake ninja-build pkg-config
  liburing-dev libmimalloc-dev libjemalloc-dev libtomlplusplus-dev libpq-dev libnats-dev
  libgtest-dev libgmock-dev libbenchmark-dev libhiredis-dev
  nlohmann-json3-dev libssl-dev
  redis-server redis-tools
)
if [ "$profile" = test ] || [ "$profile" = demo ]; then
  packages+=(postgresql postgresql-client python3 nats-server)
fi
if [ "$profile" = test ]; then
  packages+=(clang-14 libclang-rt-14-dev python3-redis tcl curl chromium)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from elsewhere than Debian (its npm then conflicts with Debian's): only
# install Debian's when there is no node/npm at all.
if [ "$profile" = test ] && { ! command -v node >/dev/null || ! command -v npm >/dev/null; }; then
  missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "strata: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
