#!/usr/bin/env bash
# The host's numeric code under a memory checker: the unit tests of weight matching, the
# assignment solver and the score-matrix GEMMs (align::), which call into unsafe code of their
# dependencies (matrixmultiply, pulp's SIMD, rayon), run under valgrind's memcheck on the shapes
# users have, narrow ones included. Any invalid read or write fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "memcheck: valgrind missing (scripts/setup.sh installs it)"; exit 1; }
# `--workspace`, as scripts/test.sh builds it: `-p mote-host` would unify other features and
# rebuild every dependency for nothing.
bin=$(cargo test --workspace --lib --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "mote_host" and m["profile"]["test"] and m.get("executable"):
        print(m["executable"])')
[ -n "$bin" ] || { echo "memcheck: no test binary found"; exit 1; }
echo "memcheck: valgrind $bin align::"
# Fewer proptest cases than the plain run: memcheck is ~50x slower, and the shapes, not the
# number of random draws, are what reaches the narrow-matrix paths.
PROPTEST_CASES=24 valgrind --quiet --error-exitcode=99 --leak-check=no \
  "$bin" align:: --test-threads=2 2>&1 | tail -n 25
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then echo "memcheck: failed (status $status)"; exit 1; fi
echo "memcheck: no invalid memory access"
