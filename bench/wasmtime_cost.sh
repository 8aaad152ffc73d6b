#!/usr/bin/env bash
# What the plugin sandbox costs the host build: time of the wasmtime-related crates in a release
# build of mote-host (from cargo --timings) and their share of the `mote` binary's code (from
# symbol sizes). Run from the repository root. A clean measurement needs a release build of
# mote-host that has not been built yet (otherwise cargo reuses the artifacts and reports ~0).
set -euo pipefail
cargo build --release -p mote-host --timings 2>&1 | tail -1
html=$(ls -t target/cargo-timings/cargo-timing-*.html | head -1)
python3 - "$html" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);\n", text, re.S).group(1))
sandbox = re.compile(r"^(wasmtime|cranelift|wasmparser|wasm-encoder|wit-parser|wasmprinter|regalloc2|"
                     r"target-lexicon|gimli|object|pulley|wasmtime-internal|id-arena|semver|"
                     r"hashbrown|postcard|bumpalo|smallvec|rustix|libm|mach2|memfd|fxprof|ittapi)")
tot = sum(u["duration"] for u in units)
wt = [(u["name"], u["duration"]) for u in units if sandbox.match(u["name"])]
print(f"release build, sum of unit times: {tot:.1f} s; wasmtime-related units: "
      f"{sum(d for _, d in wt):.1f} s ({len(wt)} units)")
for n, d in sorted(wt, key=lambda x: -x[1])[:8]:
    print(f"  {n:<32} {d:6.1f} s")
PY
bin=target/release/mote
strip -o /tmp/mote.stripped "$bin"
echo "mote binary: $(stat -c %s "$bin") bytes unstripped, $(stat -c %s /tmp/mote.stripped) bytes stripped"
nm -C --size-sort -S "$bin" | python3 -c "
import re, sys
pat = re.compile(r'(wasmtime|cranelift|wasmparser|regalloc2|pulley_interpreter|wit_parser|gimli::|object::)')
tot = wt = 0
for line in sys.stdin:
    p = line.split(None, 3)
    if len(p) == 4:
        tot += int(p[1], 16); wt += int(p[1], 16) if pat.search(p[3]) else 0
print(f'symbol bytes: {tot} total, {wt} ({100*wt/tot:.0f}%) in wasmtime/cranelift/wasmparser/regalloc2')
"
