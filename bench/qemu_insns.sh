#!/usr/bin/env bash
# Counts the guest instructions of a firmware binary under QEMU with the insncount TCG plugin
# (tools/insncount.c): the whole run, and each region between the firmware's bench_start() and
# bench_end() markers (the plugin keeps the first 256 pairs).
#
# Usage: bench/qemu_insns.sh BIN [BOARD]
#   BIN    firmware binary name (firmware/src/bin/BIN.rs)
#   BOARD  mps2-an386 (Cortex-M4F, default) | lm3s6965evb (Cortex-M3, soft float)
# Env: FIRMWARE_FEATURES (extra cargo features), QEMU_TIMEOUT (s, default 300),
# Prints the plugin's lines ("insncount: total=N pairs=P", "insncount: region[i]=N") and the
# mean, min and max per region. (`mote dict --data ecg --firmware` does the same from Rust.)
# The firmware's defmt output is decoded with defmt-print when it is installed, else discarded.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:?usage: bench/qemu_insns.sh BIN [mps2-an386|lm3s6965evb]}"
board="${2:-mps2-an386}"
case "$board" in
  mps2-an386)  target=thumbv7em-none-eabihf; feature=board-mps2-an386 ;;
  lm3s6965evb) target=thumbv7m-none-eabi;    feature=board-lm3s6965 ;;
  *) echo "unknown board '$board' (mps2-an386 | lm3s6965evb)" >&2; exit 2 ;;
esac

plugin="$root/tools/libinsncount.so"
if [[ ! -f "$plugin" || "$root/tools/insncount.c" -nt "$plugin" ]]; then
  gcc -shared -fPIC -O2 -Wall -o "$plugin" "$root/tools/insncount.c"
fi

(cd "$root/firmware" && cargo build --release --quiet --bin "$bin" --target "$target" \
   --no-default-features --features "$feature${FIRMWARE_FEATURES:+,$FIRMWARE_FEATURES}")
elf="$root/firmware/target/$target/release/$bin"

sym() { readelf -sW "$elf" | awk -v s="$1" '$8==s && !f {print $2; f=1}'; }
start="$(sym bench_start)"; end="$(sym bench_end)"
if [[ -z "$start" || -z "$end" ]]; then
  echo "$elf: no bench_start/bench_end symbols (does the binary call them?)" >&2; exit 1
fi
pargs="start=0x$start,end=0x$end"

log="$(mktemp)"; trap 'rm -f "$log"' EXIT
set +e
if command -v defmt-print >/dev/null; then
  timeout "${QEMU_TIMEOUT:-300}" qemu-system-arm -machine "$board" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 -d plugin -plugin "$plugin,$pargs" \
    -kernel "$elf" 2>"$log" | defmt-print -e "$elf"
  rc="${PIPESTATUS[0]}"
else
  timeout "${QEMU_TIMEOUT:-300}" qemu-system-arm -machine "$board" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 -d plugin -plugin "$plugin,$pargs" \
    -kernel "$elf" 2>"$log" >/dev/null
  rc=$?
fi
set -e
grep '^insncount:' "$log" || { echo "no insncount output (QEMU exit $rc):" >&2; cat "$log" >&2; exit 1; }
grep -o 'region\[[0-9]*\]=[0-9]*' "$log" | cut -d= -f2 | awk -v b="$bin" -v m="$board" '
  { s += $1; if (NR == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 }
  END { if (NR) printf "%d regions: mean %.0f, min %d, max %d instructions (%s on %s)\n", NR, s / NR, lo, hi, b, m }'
exit "$rc"
