#!/usr/bin/env bash
# Fails when a file includes a header it may not: a layer above its own, or, inside proxy/, a
# room above its own. The rules are the tables below; each folder's README says the same.
#   layers: protocol, cache: nothing of ours; policies: cache; proxy: all three; bench: the
#           first three (it drives the proxy over the network, never through its internals).
#   proxy rooms, lowest first: a room may include the rooms listed after it, nothing else.
set -u
root=${1:-.}
bad=0

# check DIR ALLOWED_PREFIXES... : every '#include "x/..."' of ours in DIR must start with an
# allowed prefix (system and third-party headers use <...> and are not checked).
check() {
  local dir=$1; shift
  [ -d "$root/$dir" ] || return 0
  local f line inc ok p
  while IFS= read -r f; do
    while IFS= read -r line; do
      inc=${line#*\"}; inc=${inc%%\"*}
      ok=0
      for p in "$@"; do
        case "$inc" in "$p"/*) ok=1; break ;; esac
      done
      if [ $ok = 0 ]; then
        echo "layering violation: ${f#"$root"/}: #include \"$inc\" (allowed: ${*:-nothing of ours})"
        bad=1
      fi
    done < <(grep -hE '^#include "(protocol|cache|policies|proxy|bench)/' "$f")
  done < <(find "$root/$dir" -name '*.h' -o -name '*.cc')
}

check protocol protocol
check cache cache
check policies policies cache
check bench bench protocol cache policies

# proxy/ rooms. Each may include the layers below proxy, itself, and the rooms named.
libs="protocol cache policies"
room() {  # room, rooms it may include...
  local r=$1; shift
  local allowed=("proxy/$r")
  local x
  for x in "$@"; do allowed+=("proxy/$x"); done
  check "proxy/$r" $libs "${allowed[@]}"
}
room loop
room commands
room sync       loop
room postgres   loop
room journal    loop
room redis      loop commands sync
room tiers      loop commands sync postgres journal redis
room admin      loop commands sync tiers
room resp       loop commands sync redis tiers admin
room ws         loop commands sync redis tiers
room changefeed loop sync redis tiers
room server     loop commands sync postgres journal redis tiers admin resp ws changefeed
# Every .h/.cc of proxy/ lives in a room (a file at the top would escape the rules).
for f in "$root"/proxy/*.h "$root"/proxy/*.cc; do
  [ -e "$f" ] || continue
  echo "layering violation: ${f#"$root"/} is outside every room of proxy/"
  bad=1
done
for d in "$root"/proxy/*/; do
  d=$(basename "$d")
  case " loop commands sync postgres journal redis tiers admin resp ws changefeed server " in
    *" $d "*) ;;
    *) echo "layering violation: proxy/$d/ has no rule in tests/layering_check.sh"; bad=1 ;;
  esac
done

if [ $bad -eq 0 ]; then echo "layering ok"; fi
exit $bad
