#!/usr/bin/env bash
# Fails when a layer includes a header from a layer above it.
# protocol, cache: nothing of ours; policies: cache; proxy: all three; bench: protocol, cache, policies.
set -u
root=${1:-.}
bad=0
check() {  # layer, forbidden include prefixes...
  local layer=$1; shift
  for f in $(find "$root/$layer" -name '*.h' -o -name '*.cc' 2>/dev/null); do
    for p in "$@"; do
      if grep -nE "#include \"$p/" "$f"; then echo "layering violation: $f includes $p/"; bad=1; fi
    done
  done
}
check protocol cache policies proxy bench
check cache protocol policies proxy bench
check policies protocol proxy bench
check proxy bench
check bench proxy
if [ $bad -eq 0 ]; then echo "layering ok"; fi
exit $bad
